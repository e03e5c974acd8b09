# UperNet on ADE20K, 40k iterations, with ViT-S (CBS), blocks 3, 5, 7, 11 through ViTPyramidNeck;
# the UperNet width of the Context Broadcasting paper.
# The protocol is ../_base_/protocols/upernet_40k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_40k_ade20k.py', '../_base_/backbones/cbvit.py']

model = dict(
    backbone={{_base_.cbvit_cbs_s}},
    neck={{_base_.vit_pyramid_s}},
    decode_head=dict(in_channels=[384] * 4, channels=384),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.cbvit_custom_keys}}))
