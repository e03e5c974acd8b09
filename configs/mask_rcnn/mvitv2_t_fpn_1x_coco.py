# Mask R-CNN + FPN with MViTv2-T (mmpretrain's MViT), as a baseline under the
# protocol of ./litv2_s_fpn_1x_coco.py (only the backbone and the FPN's inputs differ).
_base_ = ['./litv2_s_fpn_1x_coco.py', '../_base_/backbones/baselines.py']
custom_imports = dict(imports=['vitdense', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(backbone={{_base_.mvitv2_t}}, neck=dict(in_channels={{_base_.mvit_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
