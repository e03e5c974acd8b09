# Semantic FPN with a plain ViT-S (DeiT-S weights) on ADE20K: the protocol of
# ./litv2_s_fpn_80k_ade20k.py, blocks 3, 5, 7, 11 turned into strides 4-32 by ViTPyramidNeck.
_base_ = './litv2_s_fpn_80k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='CBViT',
        arch='s',
        cb='none',
        out_indices=(3, 5, 7, 11),
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth',
        ),
    ),
    neck=[
        dict(type='ViTPyramidNeck', in_channels=384, norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(type='FPN', in_channels=[384, 384, 384, 384], out_channels=256, num_outs=4),
    ],
)
