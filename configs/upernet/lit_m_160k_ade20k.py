_base_ = './lit_s_160k_ade20k.py'
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_m.pth'),
    )
)
