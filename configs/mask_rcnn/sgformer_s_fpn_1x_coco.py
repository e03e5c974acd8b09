# Mask R-CNN + FPN on COCO, 1x schedule, with SG-Former-S (upstream is classification only).
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/sgformer.py']

model = dict(backbone={{_base_.sgformer_s}}, neck=dict(in_channels={{_base_.sgformer_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.sgformer_custom_keys}}))
