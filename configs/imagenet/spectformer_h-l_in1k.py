# Hierarchical SpectFormer H-L on ImageNet-1k: upstream's classifier (a class-attention block over stage 4's
# tokens, stage 4's norm, a linear head) and recipe without token labels (drop path of
# configs/spectformer/spectformer_l.py). Upstream released no weights: this config makes them, and its
# checkpoint initialises the dense SpectFormer configs (checkpoints/spectformer_h-l_in1k.pth).
_base_ = '../_base_/protocols/imagenet_spectformer_310e.py'

model = dict(
    backbone=dict(type='SpectFormer', arch='h-l', out_type='cls_token', out_indices=(3,), drop_path_rate=0.3),
    head=dict(in_channels=512),
)
# upstream's H-L config clips gradients (clip_grad=1.0)
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
