# RetinaNet with LIT-S: the protocol of ./litv2_s_fpn_3x_coco.py (upstream LIT's 1x is the
# same: AdamW lr 1e-4, weight decay 1e-4 except on norms and relative-position tables, AMP).
_base_ = './litv2_s_fpn_3x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LIT',
        arch='s',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_s.pth'
        ),
    ),
)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'norm': dict(decay_mult=0.0), 'relative_position_bias_table': dict(decay_mult=0.0)}
    )
)
