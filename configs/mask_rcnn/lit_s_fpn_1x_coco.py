# Mask R-CNN + FPN with LIT-S, 1x schedule on COCO. Upstream protocol (ziplab/LIT, the
# same as LITv2's): AdamW lr 2e-4, weight decay 1e-4 except on norms and relative-position
# tables, 500-iteration warm-up, steps 8/11, mixed precision, 8 GPUs x 2 images.
_base_ = './litv2_s_fpn_1x_coco.py'

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
