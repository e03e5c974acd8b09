# Mask R-CNN + FPN with Swin-T (mmdet's SwinTransformer; mmseg's for UperNet), as a baseline under the
# protocol of ./litv2_s_fpn_1x_coco.py (only the backbone and the FPN's inputs differ).
_base_ = ['./litv2_s_fpn_1x_coco.py', '../_base_/backbones/baselines.py']

model = dict(backbone={{_base_.swin_t}}, neck=dict(in_channels={{_base_.swin_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
