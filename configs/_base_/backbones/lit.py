# LIT backbones as config variables, as upstream's dense models have them (ziplab/LIT
# detection/configs/lit/ and segmentation/configs/lit/): `_delete_` replaces the protocol's backbone;
# a model config takes one variable and the matching stage channels. ImageNet weights are upstream's
# releases. Upstream trains LIT-M/B on no dense task; their variables follow LIT-S.
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
lit_m = dict(
    lit_s,
    arch='m',
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_m.pth'
    ),
)
lit_b = dict(
    lit_s,
    arch='b',
    drop_path_rate=0.3,
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_b.pth'
    ),
)
# LIT-Ti is PVT-style: absolute position embeddings, no output norms
lit_ti = dict(
    lit_s,
    arch='ti',
    drop_path_rate=0.1,
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_ti.pth'
    ),
)
# upstream's segmentation port: relative-position tables sized for 512 crops, a stage-1 output norm
lit_s_seg = dict(lit_s, rel_pos_img_size=512, first_out_norm=True)
lit_m_seg = dict(lit_m, rel_pos_img_size=512, first_out_norm=True)
lit_b_seg = dict(lit_b, rel_pos_img_size=512, first_out_norm=True)
lit_ti_seg = lit_ti
lit_channels = [96, 192, 384, 768]
lit_b_channels = [128, 256, 512, 1024]
lit_ti_channels = [64, 128, 320, 512]
# ziplab/LIT's LIT-S detection configs: no weight decay on norms and relative-position tables
lit_custom_keys = {'norm': dict(decay_mult=0.0), 'relative_position_bias_table': dict(decay_mult=0.0)}
