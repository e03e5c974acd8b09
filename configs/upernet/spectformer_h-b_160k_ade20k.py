_base_ = './spectformer_h-s_160k_ade20k.py'
model = dict(backbone=dict(arch='h-b'), decode_head=dict(in_channels=[64, 128, 320, 512]))
