# Semantic FPN with LIT-S on ADE20K: the protocol of ./litv2_s_fpn_80k_ade20k.py (upstream
# LIT's). Relative-position tables sized for 512 crops and a stage-1 output norm, as
# upstream's segmentation port.
_base_ = ['./litv2_s_fpn_80k_ade20k.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_s_seg}})
