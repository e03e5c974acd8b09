# Semantic FPN on ADE20K, 80k iterations, with ViT-S (CB), blocks 3, 5, 7, 11 through
# ViTPyramidNeck.
# The protocol is ../_base_/protocols/sem_fpn_80k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_80k_ade20k.py', '../_base_/backbones/cbvit.py']

model = dict(backbone={{_base_.cbvit_cb_s}}, neck={{_base_.cbvit_s_seg_neck}})
