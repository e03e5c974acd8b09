# Semantic FPN on ADE20K, 40k iterations, with LITv2-M (upstream has no 40k model).
# The protocol is ../_base_/protocols/sem_fpn_40k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_40k_ade20k.py', '../_base_/backbones/litv2.py']

model = dict(backbone={{_base_.litv2_m_seg}}, neck=dict(in_channels={{_base_.litv2_channels}}))
