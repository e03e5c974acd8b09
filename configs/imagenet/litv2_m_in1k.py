# LITv2-M on ImageNet-1k: upstream's classifier (the stage-4 output norm is its final norm, then
# average pooling and a linear head) and recipe (configs/litv2-medium.yaml). Upstream's
# released litv2_m.pth loads as it is: python tools/test.py configs/imagenet/litv2_m_in1k.py
# https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth
_base_ = '../_base_/protocols/imagenet_swin_300e.py'

model = dict(
    backbone=dict(type='LITv2', arch='m', out_indices=(3,), drop_path_rate=0.3),
    head=dict(in_channels=768),
)
