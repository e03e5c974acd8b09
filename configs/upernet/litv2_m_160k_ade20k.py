# UperNet on ADE20K, 160k iterations, with LITv2-M (upstream publishes no UperNet), with its own
# dense drop-path rate.
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/litv2.py']

model = dict(
    backbone={{_base_.litv2_m_seg}},
    decode_head=dict(in_channels={{_base_.litv2_channels}}),
    auxiliary_head=dict(in_channels=384),
)
