# The classifier of the upstream ImageNet recipes, in mmpretrain: a vitdense backbone (the model
# config's), average pooling, a linear head trained with label smoothing on Mixup / CutMix targets
# (timm's Mixup: one of the two per batch, with equal chance), every linear layer initialised
# truncated-normal. UpstreamImageClassifier also loads upstream's flat classification checkpoints.
model = dict(
    type='UpstreamImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=None,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
    ),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
    ],
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
