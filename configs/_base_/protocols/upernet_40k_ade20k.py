# UperNet on ADE20K, 40k iterations: the short schedule of the Context Broadcasting paper
# (Hyeon-Woo et al., ICCV 2023, ADE20K tables) on the protocol of ./upernet_160k_ade20k.py. Neither
# Swin nor XCiT publishes a 40k UperNet config: the warm-up is kept, the decay ends at 40k, and
# evaluation and checkpoints come 4x more often.
_base_ = './upernet_160k_ade20k.py'

train_cfg = dict(max_iters=40000, val_interval=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(interval=4000))
