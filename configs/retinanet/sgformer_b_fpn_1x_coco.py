_base_ = './sgformer_s_fpn_1x_coco.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.3), neck=dict(in_channels=[96, 192, 384, 768]))
