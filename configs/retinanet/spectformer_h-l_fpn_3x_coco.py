_base_ = './spectformer_h-s_fpn_3x_coco.py'
model = dict(backbone=dict(arch='h-l', drop_path_rate=0.3), neck=dict(in_channels=[96, 192, 384, 512]))
