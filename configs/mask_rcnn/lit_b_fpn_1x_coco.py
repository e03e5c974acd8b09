_base_ = './lit_s_fpn_1x_coco.py'
model = dict(backbone={{_base_.lit_b}}, neck=dict(in_channels={{_base_.lit_b_channels}}))
