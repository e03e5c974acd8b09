# The short (40k-iteration) Semantic FPN schedule of ./litv2_s_fpn_40k_ade20k.py.
_base_ = './lit_s_fpn_80k_ade20k.py'
train_cfg = dict(max_iters=40000, val_interval=4000)
param_scheduler = [dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=40000, by_epoch=False)]
default_hooks = dict(checkpoint=dict(interval=4000))
