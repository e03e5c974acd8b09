# Mask R-CNN + FPN on COCO, 1x schedule, with PVT-S (mmdet's PyramidVisionTransformer), a baseline.
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/baselines.py']

model = dict(backbone={{_base_.pvt_s}}, neck=dict(in_channels={{_base_.pvt_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
