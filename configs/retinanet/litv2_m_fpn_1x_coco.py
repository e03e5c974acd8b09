_base_ = './litv2_s_fpn_1x_coco.py'
model = dict(backbone={{_base_.litv2_m}})
