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
