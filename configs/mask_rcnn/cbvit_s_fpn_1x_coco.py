# Mask R-CNN with a plain ViT-S (DeiT-S weights): the protocol of ./litv2_s_fpn_1x_coco.py,
# blocks 3, 5, 7, 11 turned into strides 4-32 by ViTPyramidNeck before the FPN.
_base_ = './litv2_s_fpn_1x_coco.py'

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
        dict(type='FPN', in_channels=[384, 384, 384, 384], out_channels=256, num_outs=5),
    ],
)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
        }
    )
)
