# LITv2-S on ImageNet-1k: upstream's classifier (the stage-4 output norm is its final norm, then
# average pooling and a linear head) and recipe (configs/litv2-small.yaml). Upstream's
# released litv2_s.pth loads as it is: python tools/test.py configs/imagenet/litv2_s_in1k.py
# https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth
_base_ = '../_base_/protocols/imagenet_swin_300e.py'

model = dict(
    backbone=dict(type='LITv2', arch='s', out_indices=(3,), drop_path_rate=0.2),
    head=dict(in_channels=768),
)
