# UperNet on ADE20K, 160k iterations, with SpectFormer H-B (upstream is classification only).
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/spectformer.py']

model = dict(
    backbone={{_base_.spectformer_h_b}},
    decode_head=dict(in_channels={{_base_.spectformer_h_b_channels}}),
    auxiliary_head=dict(in_channels=320),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.spectformer_custom_keys}}))
