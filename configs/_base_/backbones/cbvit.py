# Plain ViT-S (DeiT-S weights) as a config variable, blocks 3, 5, 7, 11 turned into strides
# 4-32 by ViTPyramidNeck.
cbvit_s = dict(
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
)
vit_pyramid_s = dict(type='ViTPyramidNeck', in_channels=384, norm_cfg=dict(type='SyncBN', requires_grad=True))
cbvit_custom_keys = {
    'norm': dict(decay_mult=0.0),
    'pos_embed': dict(decay_mult=0.0),
    'cls_token': dict(decay_mult=0.0),
}
# the pyramid then an FPN of 5 levels, for the detectors
cbvit_s_det_neck = [vit_pyramid_s, dict(type='FPN', in_channels=[384] * 4, out_channels=256, num_outs=5)]
# sizes Ti and B: what changes on the S backbone of a task config
cbvit_ti = dict(
    arch='ti',
    init_cfg=dict(checkpoint='https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth'),
)
cbvit_b = dict(
    arch='b',
    init_cfg=dict(checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'),
)
cbvit_b_det_neck = [
    dict(vit_pyramid_s, in_channels=768),
    dict(type='FPN', in_channels=[768] * 4, out_channels=256, num_outs=5),
]
