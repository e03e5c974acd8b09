# Semantic FPN with LIT-S on ADE20K: the protocol of ./litv2_s_fpn_80k_ade20k.py (upstream
# LIT's). Relative-position tables sized for 512 crops and a stage-1 output norm, as
# upstream's segmentation port.
_base_ = './litv2_s_fpn_80k_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LIT',
        arch='s',
        rel_pos_img_size=512,
        first_out_norm=True,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_s.pth'
        ),
    ),
)
