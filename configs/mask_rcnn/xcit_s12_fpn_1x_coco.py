# Mask R-CNN + FPN with XCiT-S12/16 (timm, through TimmPyramid), as a baseline under the
# protocol of ./litv2_s_fpn_1x_coco.py (only the backbone and the FPN's inputs differ).
_base_ = ['./litv2_s_fpn_1x_coco.py', '../_base_/backbones/baselines.py']

model = dict(backbone={{_base_.xcit_s12}}, neck=dict(in_channels=[384, 384, 384, 384]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
