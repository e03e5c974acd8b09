# UperNet with SpectFormer-H-S on ADE20K: mmseg's Swin protocol (./litv2_s_160k_ade20k.py),
# with no decay on the spectral filters either. Upstream released no weights: set
# init_cfg when you have one.
_base_ = './litv2_s_160k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SpectFormer',
        arch='h-s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=None,
    ),
    decode_head=dict(in_channels=[64, 128, 320, 448]),
    auxiliary_head=dict(in_channels=320),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'complex_weight': dict(decay_mult=0.0)}))
