# Semantic FPN with LITv2-S on ADE20K, 80k iterations. Upstream protocol (ziplab/LITv2
# segmentation configs, PVT's): AdamW lr 1e-4, weight decay 1e-4, poly decay (power 0.9)
# to 1e-6, 512x512 crops, 8 GPUs x 2 images, fp32 (use --amp for mixed precision).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    '../_base_/backbones/litv2.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone={{_base_.litv2_s_seg}},
    neck=dict(in_channels=[96, 192, 384, 768]),
    decode_head=dict(num_classes=150),
)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4)
)
param_scheduler = [dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=80000, by_epoch=False)]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
