_base_ = './cbvit_s_fpn_3x_coco.py'
model = dict(backbone={{_base_.cbvit_b}}, neck={{_base_.cbvit_b_det_neck}})
