# UperNet on ADE20K, 160k iterations, with SegFormer MiT-B2 (mmseg's MixVisionTransformer), a
# baseline.
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/baselines.py']

model = dict(
    backbone={{_base_.mit_b2}},
    decode_head=dict(in_channels={{_base_.pvt_channels}}),
    auxiliary_head=dict(in_channels=320),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
