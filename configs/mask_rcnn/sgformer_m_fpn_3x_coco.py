# Mask R-CNN + FPN on COCO, 3x schedule with multi-scale crops, with SG-Former-M (upstream is
# classification only).
# The protocol is ../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_3x_ms_crop_coco.py', '../_base_/backbones/sgformer.py']

model = dict(backbone={{_base_.sgformer_m}}, neck=dict(in_channels={{_base_.sgformer_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.sgformer_custom_keys}}))
