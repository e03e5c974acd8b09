# Semantic FPN with SpectFormer-H-S on ADE20K: the PVTv2 / LITv2 protocol of
# ./litv2_s_fpn_80k_ade20k.py (AdamW lr 1e-4, weight decay 1e-4, poly 0.9), with no decay
# on norms and spectral filters.
_base_ = ['./litv2_s_fpn_80k_ade20k.py', '../_base_/backbones/spectformer.py']

model = dict(backbone={{_base_.spectformer_h_s}}, neck=dict(in_channels=[64, 128, 320, 448]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.spectformer_custom_keys}}))
