_base_ = './litv2_s_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'),
    )
)
