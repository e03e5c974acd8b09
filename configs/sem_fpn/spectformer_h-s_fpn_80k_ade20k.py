# Semantic FPN with SpectFormer-H-S on ADE20K: the PVTv2 / LITv2 protocol of
# ./litv2_s_fpn_80k_ade20k.py (AdamW lr 1e-4, weight decay 1e-4, poly 0.9), with no decay
# on norms and spectral filters. Upstream released no weights: set init_cfg when you have one.
_base_ = './litv2_s_fpn_80k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SpectFormer',
        arch='h-s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=None,
    ),
    neck=dict(in_channels=[64, 128, 320, 448]),
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0), 'complex_weight': dict(decay_mult=0.0)})
)
