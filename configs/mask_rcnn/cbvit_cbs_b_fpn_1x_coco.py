_base_ = './cbvit_b_fpn_1x_coco.py'
model = dict(backbone=dict(cb='cbs'))
