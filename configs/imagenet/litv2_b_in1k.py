# LITv2-B on ImageNet-1k: upstream's classifier (the stage-4 output norm is its final norm, then
# average pooling and a linear head) and recipe (configs/litv2-base.yaml). Upstream's
# released litv2_b.pth loads as it is: python tools/test.py configs/imagenet/litv2_b_in1k.py
# https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth
_base_ = '../_base_/protocols/imagenet_swin_300e.py'

model = dict(
    backbone=dict(type='LITv2', arch='b', out_indices=(3,), drop_path_rate=0.5),
    head=dict(in_channels=1024),
)
