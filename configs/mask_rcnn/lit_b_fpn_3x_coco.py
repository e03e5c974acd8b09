_base_ = './lit_s_fpn_3x_coco.py'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_b.pth'),
    ),
    neck=dict(in_channels=[128, 256, 512, 1024]),
)
