# Mask R-CNN + FPN on COCO, 1x schedule, with LIT-B: upstream trains no detector of this size.
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_b}}, neck=dict(in_channels={{_base_.lit_b_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.lit_custom_keys}}))
