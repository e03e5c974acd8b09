# LIT-S as a config variable for the task configs; `_delete_` replaces the base backbone.
lit_s = dict(
    _delete_=True,
    type='LIT',
    arch='s',
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_s.pth'
    ),
)
# upstream's segmentation port: tables sized for 512 crops, a stage-1 output norm
lit_s_seg = dict(lit_s, rel_pos_img_size=512, first_out_norm=True)
lit_custom_keys = {'norm': dict(decay_mult=0.0), 'relative_position_bias_table': dict(decay_mult=0.0)}
