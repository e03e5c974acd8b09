# RetinaNet + FPN with LITv2-S, 1x schedule on COCO. Upstream protocol: AdamW lr 1e-4,
# weight decay 1e-4 except on norms, FPN from stage 2 with extra convs on its input,
# mixed precision, 8 GPUs x 2 images.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/backbones/litv2.py']
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.litv2_s}},
    neck=dict(in_channels=[96, 192, 384, 768], start_level=1, add_extra_convs='on_input'),
)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
)
