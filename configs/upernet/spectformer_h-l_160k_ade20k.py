_base_ = './spectformer_h-s_160k_ade20k.py'
model = dict(
    backbone=dict(arch='h-l', drop_path_rate=0.3),
    decode_head=dict(in_channels=[96, 192, 384, 512]),
    auxiliary_head=dict(in_channels=384),
)
