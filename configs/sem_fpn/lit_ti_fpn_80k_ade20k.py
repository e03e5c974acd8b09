_base_ = './lit_s_fpn_80k_ade20k.py'
model = dict(backbone={{_base_.lit_ti_seg}}, neck=dict(in_channels={{_base_.lit_ti_channels}}))
