_base_ = './litv2_s_160k_ade20k.py'
model = dict(
    backbone={{_base_.litv2_b}},
    decode_head=dict(in_channels={{_base_.litv2_b_channels}}),
    auxiliary_head=dict(in_channels=512),
)
