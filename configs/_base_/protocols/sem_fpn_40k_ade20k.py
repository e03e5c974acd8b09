# Semantic FPN on ADE20K, 40k iterations, as PVT trained it: whai362/PVT
# segmentation/configs/sem_fpn/PVT/fpn_pvt_s_ade20k_40k.py (mmseg 0.13), which halves mmseg's 80k
# iterations and doubles its learning rate for 8 GPUs x 4 images, decays to zero, evaluates more
# often and resizes test images to a multiple of 32 (its AlignResize = mmseg's Resize then
# ResizeToMultiple). The rest is ./sem_fpn_80k_ade20k.py.
_base_ = './sem_fpn_80k_ade20k.py'

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
train_dataloader = dict(batch_size=4)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=32)
