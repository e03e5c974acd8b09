# Semantic FPN on ADE20K, 80k iterations, as LITv2 and LIT trained their released segmentors:
# ziplab/LITv2 segmentation/configs/litv2/litv2_s_fpn_r50_512x512_80k_ade20k.py and ziplab/LIT
# segmentation/configs/lit/lit_s_fpn_r50_512x512_80k_ade20k.py (mmseg 0.13). mmseg's stock Semantic
# FPN, ADE20K data (512 crops; test at the (2048, 512) scale, no padding), runtime and 80k schedule;
# upstream changed the optimizer (AdamW, poly decay to a floor, no warm-up) and trained in fp32 on
# 8 GPUs x 2 images. A model config adds its backbone and the FPN's in_channels.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size), pretrained=None, decode_head=dict(num_classes=150))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
)
param_scheduler = [dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=80000, by_epoch=False)]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
