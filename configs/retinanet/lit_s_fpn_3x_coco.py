# RetinaNet + FPN on COCO, 3x schedule with multi-scale crops, with LIT-S: upstream publishes no 3x
# model.
# The protocol is ../_base_/protocols/retinanet_3x_ms_crop_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/retinanet_3x_ms_crop_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_s}}, neck=dict(in_channels={{_base_.lit_channels}}))
