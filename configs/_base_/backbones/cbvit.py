# Plain ViTs (DeiT sizes) with context broadcasting as config variables; blocks 3, 5, 7, 11 become
# strides 4-32 through ViTPyramidNeck. Plain ViTs start from DeiT's ImageNet weights; with CB or CBS
# they start from a ViT pre-trained with it (the paper's dense results do), the output of vitdense's
# pre-training (configs/imagenet/, README "Pre-train on ImageNet") expected under checkpoints/; a
# missing file stops with the command that makes it.
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
cbvit_ti = dict(
    cbvit_s,
    arch='ti',
    init_cfg=dict(
        type='Pretrained', checkpoint='https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth'
    ),
)
cbvit_b = dict(
    cbvit_s,
    arch='b',
    init_cfg=dict(
        type='Pretrained', checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'
    ),
)
cbvit_cb_ti = dict(
    cbvit_ti,
    cb='cb',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cb_ti_in1k.pth', prefix='backbone.'),
)
cbvit_cb_s = dict(
    cbvit_s,
    cb='cb',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cb_s_in1k.pth', prefix='backbone.'),
)
cbvit_cb_b = dict(
    cbvit_b,
    cb='cb',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cb_b_in1k.pth', prefix='backbone.'),
)
cbvit_cbs_ti = dict(
    cbvit_ti,
    cb='cbs',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cbs_ti_in1k.pth', prefix='backbone.'),
)
cbvit_cbs_s = dict(
    cbvit_s,
    cb='cbs',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cbs_s_in1k.pth', prefix='backbone.'),
)
cbvit_cbs_b = dict(
    cbvit_b,
    cb='cbs',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbvit_cbs_b_in1k.pth', prefix='backbone.'),
)
# the pyramid of each width; for the detectors an FPN of 5 levels follows it
vit_pyramid_ti = dict(
    type='ViTPyramidNeck', in_channels=192, norm_cfg=dict(type='SyncBN', requires_grad=True)
)
vit_pyramid_s = dict(vit_pyramid_ti, in_channels=384)
vit_pyramid_b = dict(vit_pyramid_ti, in_channels=768)
cbvit_s_det_neck = [vit_pyramid_s, dict(type='FPN', in_channels=[384] * 4, out_channels=256, num_outs=5)]
cbvit_b_det_neck = [vit_pyramid_b, dict(type='FPN', in_channels=[768] * 4, out_channels=256, num_outs=5)]
cbvit_s_seg_neck = [vit_pyramid_s, dict(type='FPN', in_channels=[384] * 4, out_channels=256, num_outs=4)]
# no weight decay on norms, the position embedding and the class token
cbvit_custom_keys = {
    'norm': dict(decay_mult=0.0),
    'pos_embed': dict(decay_mult=0.0),
    'cls_token': dict(decay_mult=0.0),
}
