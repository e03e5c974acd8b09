# SpectFormer-H-S as a config variable for the task configs. Upstream released no
# weights: set init_cfg to an ImageNet checkpoint of upstream's layout when you have one.
spectformer_h_s = dict(
    _delete_=True,
    type='SpectFormer',
    arch='h-s',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    init_cfg=None,
)
spectformer_custom_keys = {'norm': dict(decay_mult=0.0), 'complex_weight': dict(decay_mult=0.0)}
