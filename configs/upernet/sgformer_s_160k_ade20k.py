# UperNet with SG-Former-S on ADE20K: mmseg's Swin protocol (./litv2_s_160k_ade20k.py), no
# decay on GroupNorms either. Set init_cfg to the upstream ImageNet checkpoint.
_base_ = './litv2_s_160k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=None,
    ),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256),
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), '.bn.': dict(decay_mult=0.0)})
)
