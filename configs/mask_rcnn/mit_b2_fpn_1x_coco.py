# Mask R-CNN + FPN with SegFormer's MiT-B2 (mmseg's MixVisionTransformer), as a baseline under the
# protocol of ./litv2_s_fpn_1x_coco.py (only the backbone and the FPN's inputs differ).
_base_ = ['./litv2_s_fpn_1x_coco.py', '../_base_/backbones/baselines.py']
custom_imports = dict(imports=['vitdense', 'mmseg.models'], allow_failed_imports=False)

model = dict(backbone={{_base_.mit_b2}}, neck=dict(in_channels={{_base_.pvt_channels}}))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
