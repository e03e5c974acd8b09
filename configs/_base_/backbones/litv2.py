# LITv2 backbones as config variables, as upstream's dense models have them (ziplab/LITv2
# detection/configs/litv2/ and segmentation/configs/litv2/ at commit d46323f): `_delete_` replaces the
# protocol's backbone; a model config takes one variable and the matching stage channels. ImageNet
# weights are upstream's releases.
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
litv2_m = dict(
    litv2_s,
    arch='m',
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'
    ),
)
litv2_b = dict(
    litv2_s,
    arch='b',
    drop_path_rate=0.3,
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth'
    ),
)
# upstream's `_ws_4` detectors: HiLo windows of 4 in stage 3, the faster variant
litv2_s_ws4 = dict(litv2_s, local_ws=(0, 0, 4, 1))
litv2_m_ws4 = dict(litv2_m, local_ws=(0, 0, 4, 1))
litv2_b_ws4 = dict(litv2_b, local_ws=(0, 0, 4, 1))
# upstream's segmentation port also normalises the stage-1 output
litv2_s_seg = dict(litv2_s, first_out_norm=True)
litv2_m_seg = dict(litv2_m, first_out_norm=True)
litv2_b_seg = dict(litv2_b, first_out_norm=True)
litv2_channels = [96, 192, 384, 768]
litv2_b_channels = [128, 256, 512, 1024]
