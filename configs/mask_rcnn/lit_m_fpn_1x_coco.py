_base_ = './lit_s_fpn_1x_coco.py'
model = dict(backbone={{_base_.lit_m}})
