# RetinaNet + FPN on COCO, 1x schedule, with SpectFormer H-L (upstream is classification only).
# The protocol is ../_base_/protocols/retinanet_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/retinanet_1x_coco.py', '../_base_/backbones/spectformer.py']

model = dict(backbone={{_base_.spectformer_h_l}}, neck=dict(in_channels={{_base_.spectformer_h_l_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.spectformer_custom_keys}}))
