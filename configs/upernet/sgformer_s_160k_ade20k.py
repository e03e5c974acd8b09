# UperNet on ADE20K, 160k iterations, with SG-Former-S (upstream is classification only).
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/sgformer.py']

model = dict(
    backbone={{_base_.sgformer_s}},
    decode_head=dict(in_channels={{_base_.sgformer_channels}}),
    auxiliary_head=dict(in_channels=256),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.sgformer_custom_keys}}))
