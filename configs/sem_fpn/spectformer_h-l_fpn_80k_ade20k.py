# Semantic FPN on ADE20K, 80k iterations, with SpectFormer H-L (upstream is classification only).
# The protocol is ../_base_/protocols/sem_fpn_80k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/sem_fpn_80k_ade20k.py', '../_base_/backbones/spectformer.py']

model = dict(backbone={{_base_.spectformer_h_l}}, neck=dict(in_channels={{_base_.spectformer_h_l_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.spectformer_custom_keys}}))
