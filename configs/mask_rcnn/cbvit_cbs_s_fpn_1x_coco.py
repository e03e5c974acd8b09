_base_ = './cbvit_s_fpn_1x_coco.py'
model = dict(backbone=dict(cb='cbs'))
