_base_ = './cbvit_s_40k_ade20k.py'
model = dict(
    backbone={{_base_.cbvit_ti}},
    neck=dict(in_channels=192),
    decode_head=dict(in_channels=[192, 192, 192, 192], channels=192),
    auxiliary_head=dict(in_channels=192),
)
