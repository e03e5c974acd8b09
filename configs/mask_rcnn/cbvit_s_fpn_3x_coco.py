# Mask R-CNN with a plain ViT-S (DeiT-S weights): the protocol of ./litv2_s_fpn_3x_coco.py,
# blocks 3, 5, 7, 11 turned into strides 4-32 by ViTPyramidNeck before the FPN.
_base_ = ['./litv2_s_fpn_3x_coco.py', '../_base_/backbones/cbvit.py']

model = dict(backbone={{_base_.cbvit_s}}, neck={{_base_.cbvit_s_det_neck}})
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.cbvit_custom_keys}}))
