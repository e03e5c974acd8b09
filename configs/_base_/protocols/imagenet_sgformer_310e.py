# ImageNet-1k classification as SG-Former trained its released classifiers: OliverRensu/SG-Former
# main.py (a timm 0.3.4 train script) with the README's command (8 GPUs x 128 images, lr and weight
# decay given, 20 warm-up epochs, EMA decay 0.99992). timm's augmentation, with the bilinear or bicubic
# interpolation chosen at random (timm's 'random') for the crop and RandAugment (per image here, per
# operation upstream); AdamW at that lr (not scaled), no weight decay on norms, biases and other 1-D
# parameters only (the position embedding decays: upstream's exemptions name parameters its model does
# not have); timm's cosine over 300 epochs stepped every epoch, then 10 cooldown epochs at the floor;
# no gradient clipping; mixed precision; an EMA of every weight and buffer, which is what upstream
# evaluates, keeps and releases. Evaluation: short side 224 / 0.9, centre crop 224, bicubic.
_base_ = [
    '../models/upstream_classifier.py',
    '../datasets/imagenet_timm.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

crop = {
    i: dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation=i)
    for i in ('bilinear', 'bicubic')
}
train_pipeline = [
    {{_base_.load_image}},
    dict(type='RandomChoice', transforms=[[crop['bilinear']], [crop['bicubic']]]),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomChoice',
        transforms=[[{{_base_.rand_augment.bilinear}}], [{{_base_.rand_augment.bicubic}}]],
    ),
    {{_base_.random_erasing}},
    dict(type='PackInputs'),
]
test_pipeline = [
    {{_base_.load_image}},
    dict(type='ResizeEdge', scale=248, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
param_scheduler = [
    dict(
        type='TimmCosineLR', t_initial=300, warmup_steps=20, warmup_lr=1e-6, min_lr=1e-5, lag=0, by_epoch=True
    )
]
train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True))
custom_hooks = [
    dict(type='EMAHook', momentum=8e-5, update_buffers=True),
    # upstream's released files hold the EMA weights in `state_dict_ema`: evaluate those
    dict(type='LoadCheckpointHook', key='state_dict_ema', strict=False),
]
