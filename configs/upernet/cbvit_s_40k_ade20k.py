# The short (40k-iteration) schedule of the paper's Table 7.
_base_ = './cbvit_s_160k_ade20k.py'
train_cfg = dict(max_iters=40000, val_interval=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(interval=4000))
