# 3x schedule with multi-scale training; upstream LIT publishes no 3x config, so this is the
# PVTv2/Swin 3x protocol of ./litv2_s_fpn_3x_coco.py with the LIT-S backbone.
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
