_base_ = './lit_s_fpn_3x_coco.py'
model = dict(backbone={{_base_.lit_m}})
