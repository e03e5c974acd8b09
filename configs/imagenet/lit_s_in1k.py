# LIT-S on ImageNet-1k: upstream's classifier (relative-position tables for 224 inputs; the stage-4
# output norm is its final norm, then average pooling and a linear head) and recipe
# (ziplab/LIT classification/code_for_lit_s_m_b/configs/lit-small.yaml). Upstream's released lit_s.pth
# loads as it is.
_base_ = '../_base_/protocols/imagenet_swin_300e.py'

model = dict(
    backbone=dict(type='LIT', arch='s', rel_pos_img_size=224, out_indices=(3,), drop_path_rate=0.2),
    head=dict(in_channels=768),
)
