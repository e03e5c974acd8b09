# LIT-S with the protocol of ./litv2_s_fpn_3x_coco.py (upstream ziplab/LIT has the
# no 3x: this is the PVTv2/Swin 3x protocol); no weight decay on norms and relative-position tables.
_base_ = ['./litv2_s_fpn_3x_coco.py', '../_base_/backbones/lit.py']

model = dict(backbone={{_base_.lit_s}})
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.lit_custom_keys}}))
