_base_ = './litv2_s_fpn_40k_ade20k.py'
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'),
    )
)
