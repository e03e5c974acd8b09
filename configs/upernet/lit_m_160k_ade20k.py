_base_ = './lit_s_160k_ade20k.py'
model = dict(backbone={{_base_.lit_m}})
