# SG-Former-S with the protocol of ./litv2_s_fpn_1x_coco.py (REFERENCE.md: AdamW, no decay
# on norms, the position embedding and GroupNorms, AMP, 8 GPUs x 2 images). Upstream
# SG-Former is classification-only; set init_cfg to its ImageNet checkpoint
# (init_cfg=dict(type='Pretrained', checkpoint=..., use_ema=True) takes state_dict_ema).
_base_ = './litv2_s_fpn_1x_coco.py'

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
