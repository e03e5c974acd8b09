_base_ = './cbvit_s_160k_ade20k.py'
model = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'),
    ),
    neck=dict(in_channels=768),
    decode_head=dict(in_channels=[768, 768, 768, 768], channels=512),
    auxiliary_head=dict(in_channels=768),
)
