_base_ = './litv2_s_40k_ade20k.py'
model = dict(backbone={{_base_.litv2_m}})
