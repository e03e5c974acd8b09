_base_ = './cbvit_s_fpn_3x_coco.py'
model = dict(backbone=dict(cb='cbs'))
