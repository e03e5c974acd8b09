# Mask R-CNN + FPN on COCO, 3x schedule with multi-scale crops, with LIT-M: upstream publishes no 3x
# model.
# The protocol is ../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_m}}, neck=dict(in_channels={{_base_.lit_channels}}))
