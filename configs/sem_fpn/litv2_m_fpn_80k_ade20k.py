# Semantic FPN on ADE20K, 80k iterations, with LITv2-M: upstream's released
# `litv2_m_fpn_r50_512x512_80k_ade20k.pth`.
# The protocol is ../_base_/protocols/sem_fpn_80k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_80k_ade20k.py', '../_base_/backbones/litv2.py']

model = dict(backbone={{_base_.litv2_m_seg}}, neck=dict(in_channels={{_base_.litv2_channels}}))
