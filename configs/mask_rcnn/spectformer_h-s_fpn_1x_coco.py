# SpectFormer-H-S with the protocol of ./litv2_s_fpn_1x_coco.py, which is mmdet's PVTv2
# protocol (AdamW, weight decay 1e-4, 8 GPUs x 2 images) with no decay on norms and on
# the spectral filters. Upstream SpectFormer has no detection configs and released no
# weights: set init_cfg to an ImageNet checkpoint of upstream's layout when you have one.
_base_ = './litv2_s_fpn_1x_coco.py'

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
