# SpectFormer-H-S with the protocol of ./litv2_s_fpn_3x_coco.py, which is mmdet's PVTv2
# protocol (AdamW, weight decay 1e-4, 8 GPUs x 2 images) with no decay on norms and on
# the spectral filters. Upstream SpectFormer has no detection configs.
_base_ = ['./litv2_s_fpn_3x_coco.py', '../_base_/backbones/spectformer.py']

model = dict(backbone={{_base_.spectformer_h_s}}, neck=dict(in_channels=[64, 128, 320, 448]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.spectformer_custom_keys}}))
