_base_ = './sgformer_s_fpn_80k_ade20k.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.3), neck=dict(in_channels=[96, 192, 384, 768]))
