# SG-Former-S with the protocol of ./litv2_s_fpn_1x_coco.py (REFERENCE.md: AdamW, no decay
# on norms, the position embedding and GroupNorms, AMP, 8 GPUs x 2 images).
_base_ = ['./litv2_s_fpn_1x_coco.py', '../_base_/backbones/sgformer.py']

model = dict(backbone={{_base_.sgformer_s}}, neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.sgformer_custom_keys}}))
