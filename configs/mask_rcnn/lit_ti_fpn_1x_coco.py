# Mask R-CNN + FPN on COCO, 1x schedule, with LIT-Ti: upstream's released `mask_rcnn_lit_ti.pth`.
# The protocol is ../_base_/protocols/mask_rcnn_1x_coco.py; this file adds the backbone.
_base_ = ['../_base_/protocols/mask_rcnn_1x_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_ti}}, neck=dict(in_channels={{_base_.lit_ti_channels}}))
# upstream trains LIT-Ti in fp32 with no parameter-wise rule (ziplab/LIT detection/configs/lit/)
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer={{_base_.optim_wrapper.optimizer}})
