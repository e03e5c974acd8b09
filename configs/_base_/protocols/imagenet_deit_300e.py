# ImageNet-1k classification, 300 epochs, as DeiT trains (facebookresearch/deit main.py; the Context
# Broadcasting paper trains its CB / CBS ViTs with it): timm's augmentation with repeated augmentation
# (3 repeats), AdamW at the lr scaled to the batch (8 GPUs x 128 images here, 4 x 256 upstream), no
# weight decay on norms, biases, the position embedding and the class token, timm's cosine with a
# warm-up, stepped after every epoch (the next epoch runs at the value of the one before, as DeiT's
# `step(epoch)`), no gradient clipping, mixed precision. DeiT also keeps an EMA of the weights that it
# never evaluates nor releases: it is left out. The classifier takes the backbone's class token after
# its final norm. A model config adds the backbone and the head's width.
_base_ = [
    '../models/upstream_classifier.py',
    '../datasets/imagenet_timm.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

model = dict(neck=None)
train_dataloader = dict(sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True))
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'backbone.pos_embed': dict(decay_mult=0.0), 'backbone.cls_token': dict(decay_mult=0.0)},
    ),
)
param_scheduler = [
    dict(
        type='TimmCosineLR', t_initial=300, warmup_steps=5, warmup_lr=1e-6, min_lr=1e-5, lag=1, by_epoch=True
    )
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True))
