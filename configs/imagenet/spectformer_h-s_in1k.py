# Hierarchical SpectFormer H-S on ImageNet-1k without token labels, for when the label maps that
# upstream's recipe needs (./spectformer_h-s_tl_in1k.py) are not at hand: upstream's classifier (a
# class-attention block over stage 4's tokens, stage 4's norm, a linear head), upstream's main.py
# recipe without --token-label-data and the drop path of upstream's
# hierarchical_architecture/configs/spectformer/spectformer_s.py. Upstream
# released no weights: this config makes them; copied to checkpoints/spectformer_h-s_in1k.pth, its
# checkpoint initialises the dense SpectFormer configs.
_base_ = '../_base_/protocols/imagenet_spectformer_310e.py'

model = dict(
    backbone=dict(type='SpectFormer', arch='h-s', out_type='cls_token', out_indices=(3,), drop_path_rate=0.1),
    head=dict(in_channels=448),
)
