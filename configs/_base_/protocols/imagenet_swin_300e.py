# ImageNet-1k classification, 300 epochs, as LITv2 and LIT-S/M/B trained their released classifiers:
# ziplab/LITv2 classification/config.py with configs/litv2-small.yaml, main.py, optimizer.py and
# lr_scheduler.py (the Swin-Transformer codebase; ziplab/LIT classification/code_for_lit_s_m_b/ is the
# same code). AdamW at the lr scaled to 8 GPUs x 128 images, no weight decay on norms, biases and other
# 1-D parameters (and relative-position tables), the deformable offsets' weights at a hundredth of the
# lr; timm's cosine with a warm-up from an absolute floor, stepped every iteration (TimmCosineLR);
# gradient clipping; mixed precision (apex O1 upstream). A model config adds the backbone and the
# head's width.
_base_ = [
    '../models/upstream_classifier.py',
    '../datasets/imagenet_timm.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.relative_position_bias_table': dict(decay_mult=0.0),
            'conv_offset.weight': dict(lr_mult=0.01),
            'conv_offset.bias': dict(decay_mult=0.0),
        },
    ),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=300,
        warmup_steps=20,
        warmup_lr=1e-6,
        min_lr=1e-5,
        lag=1,
        by_epoch=True,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_last=True))
