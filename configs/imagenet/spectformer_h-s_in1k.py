# Hierarchical SpectFormer H-S on ImageNet-1k: upstream's classifier (a class-attention block over stage 4's
# tokens, stage 4's norm, a linear head) and recipe without token labels (drop path of
# configs/spectformer/spectformer_s.py). Upstream released no weights: this config makes them, and its
# checkpoint initialises the dense SpectFormer configs (checkpoints/spectformer_h-s_in1k.pth).
_base_ = '../_base_/protocols/imagenet_spectformer_310e.py'

model = dict(
    backbone=dict(type='SpectFormer', arch='h-s', out_type='cls_token', out_indices=(3,), drop_path_rate=0.1),
    head=dict(in_channels=448),
)
