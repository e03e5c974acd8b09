_base_ = './lit_s_160k_ade20k.py'
model = dict(
    backbone={{_base_.lit_b}},
    decode_head=dict(in_channels={{_base_.lit_b_channels}}),
    auxiliary_head=dict(in_channels=512),
)
