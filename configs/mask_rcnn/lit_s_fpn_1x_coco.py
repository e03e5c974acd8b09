# Mask R-CNN + FPN on COCO, 1x schedule, with LIT-S: upstream's released `mask_rcnn_lit_s.pth`.
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_s}}, neck=dict(in_channels={{_base_.lit_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.lit_custom_keys}}))
