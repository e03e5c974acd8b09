# The short (40k-iteration) ADE20K schedules as config variables: a 40k config inherits its
# 160k / 80k sibling and this file, and takes train_cfg, param_scheduler and default_hooks
# from the variable of its head.
upernet_40k = dict(
    train_cfg=dict(max_iters=40000, val_interval=4000),
    param_scheduler=[
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000, by_epoch=False),
    ],
    default_hooks=dict(checkpoint=dict(interval=4000)),
)
sem_fpn_40k = dict(
    train_cfg=dict(max_iters=40000, val_interval=4000),
    param_scheduler=[dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=40000, by_epoch=False)],
    default_hooks=dict(checkpoint=dict(interval=4000)),
)
