_base_ = './sgformer_s_160k_ade20k.py'
model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
)
