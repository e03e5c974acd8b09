# UperNet on ADE20K, 160k iterations, with XCiT-S12/16 (timm, through TimmPyramid), a baseline.
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/baselines.py']

model = dict(
    backbone={{_base_.xcit_s12}},
    decode_head=dict(in_channels={{_base_.vit_s_channels}}),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
