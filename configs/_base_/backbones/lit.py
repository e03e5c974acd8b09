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
# sizes Ti, M and B: what changes on the S backbone of a task config, and their stage channels
lit_m = dict(
    arch='m', init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_m.pth')
)
lit_b = dict(
    arch='b',
    drop_path_rate=0.3,
    init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_b.pth'),
)
lit_b_channels = [128, 256, 512, 1024]
# LIT-Ti is PVT-style: absolute position embeddings, no output norms
lit_ti = dict(
    arch='ti',
    drop_path_rate=0.1,
    init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_ti.pth'),
)
lit_ti_seg = dict(lit_ti, first_out_norm=False)
lit_ti_channels = [64, 128, 320, 512]
