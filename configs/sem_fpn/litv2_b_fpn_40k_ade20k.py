_base_ = './litv2_s_fpn_40k_ade20k.py'
model = dict(backbone={{_base_.litv2_b}}, neck=dict(in_channels={{_base_.litv2_b_channels}}))
