# Mask R-CNN + FPN on COCO, 1x schedule, with ViT-B (CB), blocks 3, 5, 7, 11 through ViTPyramidNeck.
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/cbvit.py']

model = dict(backbone={{_base_.cbvit_cb_b}}, neck={{_base_.cbvit_b_det_neck}})
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.cbvit_custom_keys}}))
