# Semantic FPN with SG-Former-S on ADE20K: the protocol of ./litv2_s_fpn_80k_ade20k.py (AdamW
# lr 1e-4, weight decay 1e-4, poly 0.9), no decay on norms, the position embedding and
# GroupNorms. Set init_cfg to the upstream ImageNet checkpoint.
_base_ = './litv2_s_fpn_80k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=None,
    ),
    neck=dict(in_channels=[64, 128, 256, 512]),
)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            '.bn.': dict(decay_mult=0.0),
        }
    )
)
