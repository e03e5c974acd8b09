_base_ = './lit_s_160k_ade20k.py'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_b.pth'),
    ),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
)
