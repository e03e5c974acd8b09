_base_ = './lit_s_40k_ade20k.py'
model = dict(
    backbone={{_base_.lit_ti_seg}},
    decode_head=dict(in_channels={{_base_.lit_ti_channels}}),
    auxiliary_head=dict(in_channels=320),
)
