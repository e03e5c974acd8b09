# RetinaNet + FPN on COCO, 3x schedule with multi-scale crops, with LITv2-M: upstream publishes no
# 3x model.
# The protocol is ../_base_/protocols/retinanet_3x_ms_crop_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/retinanet_3x_ms_crop_coco.py', '../_base_/backbones/litv2.py']

model = dict(backbone={{_base_.litv2_m}}, neck=dict(in_channels={{_base_.litv2_channels}}))
