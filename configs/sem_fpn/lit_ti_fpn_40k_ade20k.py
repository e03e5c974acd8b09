# Semantic FPN on ADE20K, 40k iterations, with LIT-Ti (upstream has no 40k model).
# The protocol is ../_base_/protocols/sem_fpn_40k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_40k_ade20k.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_ti_seg}}, neck=dict(in_channels={{_base_.lit_ti_channels}}))
