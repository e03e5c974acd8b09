_base_ = './cbvit_b_fpn_3x_coco.py'
model = dict(backbone=dict(cb='cbs'))
