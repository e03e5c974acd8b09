# Mask R-CNN + FPN on COCO, 3x schedule with multi-scale crops, with ViT-S (CBS), blocks 3, 5, 7, 11
# through ViTPyramidNeck.
# The protocol is ../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py', '../_base_/backbones/cbvit.py']

model = dict(backbone={{_base_.cbvit_cbs_s}}, neck={{_base_.cbvit_s_det_neck}})
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.cbvit_custom_keys}}))
