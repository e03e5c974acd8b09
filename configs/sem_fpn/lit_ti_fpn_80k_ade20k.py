# Semantic FPN on ADE20K, 80k iterations, with LIT-Ti: upstream's released `sem_fpn_lit_ti.pth`.
# The protocol is ../_base_/protocols/sem_fpn_80k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_80k_ade20k.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_ti_seg}}, neck=dict(in_channels={{_base_.lit_ti_channels}}))
