_base_ = './cbvit_s_40k_ade20k.py'
model = dict(
    backbone=dict(
        arch='ti',
        init_cfg=dict(checkpoint='https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth'),
    ),
    neck=dict(in_channels=192),
    decode_head=dict(in_channels=[192, 192, 192, 192], channels=192),
    auxiliary_head=dict(in_channels=192),
)
