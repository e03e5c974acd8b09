_base_ = './cbvit_s_160k_ade20k.py'
model = dict(
    backbone={{_base_.cbvit_b}},
    neck=dict(in_channels=768),
    decode_head=dict(in_channels=[768, 768, 768, 768], channels=512),
    auxiliary_head=dict(in_channels=768),
)
