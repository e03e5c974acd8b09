_base_ = './cbvit_s_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'),
    ),
    neck=[
        dict(type='ViTPyramidNeck', in_channels=768, norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(type='FPN', in_channels=[768, 768, 768, 768], out_channels=256, num_outs=5),
    ],
)
