_base_ = './lit_s_fpn_80k_ade20k.py'
model = dict(
    backbone=dict(
        arch='ti',
        first_out_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_ti.pth'),
    ),
    neck=dict(in_channels=[64, 128, 320, 512]),
)
