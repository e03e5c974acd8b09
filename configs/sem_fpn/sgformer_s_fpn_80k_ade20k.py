# Semantic FPN with SG-Former-S on ADE20K: the protocol of ./litv2_s_fpn_80k_ade20k.py (AdamW
# lr 1e-4, weight decay 1e-4, poly 0.9), no decay on norms, the position embedding and
# GroupNorms.
_base_ = ['./litv2_s_fpn_80k_ade20k.py', '../_base_/backbones/sgformer.py']

model = dict(backbone={{_base_.sgformer_s}}, neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.sgformer_custom_keys}}))
