# UperNet on ADE20K, 40k iterations, with LITv2-S (upstream publishes no UperNet), with its own
# dense drop-path rate.
# The protocol is ../_base_/protocols/upernet_40k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_40k_ade20k.py', '../_base_/backbones/litv2.py']

model = dict(
    backbone={{_base_.litv2_s_seg}},
    decode_head=dict(in_channels={{_base_.litv2_channels}}),
    auxiliary_head=dict(in_channels=384),
)
