# SG-Former-S as a config variable for the task configs. Upstream is classification-only:
# set init_cfg to its ImageNet checkpoint (add use_ema=True to take state_dict_ema).
sgformer_s = dict(
    _delete_=True,
    type='SGFormer',
    arch='s',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    init_cfg=None,
)
sgformer_custom_keys = {
    'norm': dict(decay_mult=0.0),
    'pos_embed': dict(decay_mult=0.0),
    '.bn.': dict(decay_mult=0.0),
}
