# RetinaNet + FPN on COCO, 1x schedule, with LITv2-B with HiLo windows of 4: upstream's released
# `retinanet_litv2_b_fpn_1x_coco_ws_4.pth`.
# The protocol is ../_base_/protocols/retinanet_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/retinanet_1x_coco.py', '../_base_/backbones/litv2.py']

model = dict(backbone={{_base_.litv2_b_ws4}}, neck=dict(in_channels={{_base_.litv2_b_channels}}))
