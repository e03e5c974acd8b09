_base_ = './litv2_s_fpn_3x_coco.py'
model = dict(backbone={{_base_.litv2_b}}, neck=dict(in_channels={{_base_.litv2_b_channels}}))
