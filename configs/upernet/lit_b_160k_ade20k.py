# UperNet on ADE20K, 160k iterations, with LIT-B (upstream publishes no UperNet).
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/lit.py']

model = dict(
    backbone={{_base_.lit_b_seg}},
    decode_head=dict(in_channels={{_base_.lit_b_channels}}),
    auxiliary_head=dict(in_channels=512),
)
