# Mask R-CNN + FPN with LITv2-S, 1x schedule on COCO. Upstream protocol
# (ziplab/LITv2 detection configs): AdamW lr 2e-4, weight decay 1e-4 except on norms,
# 500-iteration warm-up, steps 8/11, mixed precision, 8 GPUs x 2 images.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/backbones/litv2.py']
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

model = dict(backbone={{_base_.litv2_s}}, neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
)
