# LITv2-S as a config variable for the task configs; `_delete_` replaces the base backbone.
litv2_s = dict(
    _delete_=True,
    type='LITv2',
    arch='s',
    alpha=0.9,
    local_ws=(0, 0, 2, 1),
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth'
    ),
)
# upstream's segmentation port also normalises the stage-1 output
litv2_s_seg = dict(litv2_s, first_out_norm=True)
# sizes M and B: what changes on the S backbone of a task config, and the B stage channels
litv2_m = dict(
    arch='m', init_cfg=dict(checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth')
)
litv2_b = dict(
    arch='b',
    drop_path_rate=0.3,
    init_cfg=dict(checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth'),
)
litv2_b_channels = [128, 256, 512, 1024]
