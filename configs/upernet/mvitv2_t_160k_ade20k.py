# UperNet on ADE20K, 160k iterations, with MViTv2-T (mmpretrain's MViT), a baseline.
# The protocol is ../_base_/protocols/upernet_160k_ade20k.py; this file adds the backbone.
_base_ = ['../_base_/protocols/upernet_160k_ade20k.py', '../_base_/backbones/baselines.py']
custom_imports = dict(imports=['vitdense', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.mvitv2_t}},
    decode_head=dict(in_channels={{_base_.mvit_channels}}),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
