# Hierarchical SpectFormer H-L on ImageNet-1k as upstream trains it: token labeling (the label maps are
# the user's, see configs/_base_/protocols/imagenet_spectformer_tl_310e.py), upstream's classifier (a
# class-attention block over stage 4's tokens, stage 4's norm, a linear head and a per-token one) and
# the drop path of upstream's
# hierarchical_architecture/configs/spectformer/spectformer_l.py. Upstream released no weights: this config makes them;
# copied to checkpoints/spectformer_h-l_in1k.pth, its checkpoint initialises the dense SpectFormer
# configs. Without label maps, use ./spectformer_h-l_in1k.py.
_base_ = '../_base_/protocols/imagenet_spectformer_tl_310e.py'

model = dict(
    backbone=dict(type='SpectFormer', arch='h-l', out_type='cls_token', out_indices=(3,), drop_path_rate=0.3),
    head=dict(in_channels=512),
)
# upstream's H-L config (hierarchical_architecture/configs/spectformer/spectformer_l.py) clips gradients
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
