_base_ = './spectformer_h-s_fpn_3x_coco.py'
model = dict(backbone=dict(arch='h-b'), neck=dict(in_channels=[64, 128, 320, 512]))
