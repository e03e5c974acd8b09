# Mask R-CNN + FPN on COCO, 3x schedule with multi-scale training and random crops, as Swin and
# PVTv2 trained: mmdet's swin/mask-rcnn_swin-t-p4-w7_fpn_amp-ms-crop-3x_coco.py (each image picks
# multi-scale resizing, or resize -> random crop -> multi-scale resizing; AdamW; norms and position
# tables without weight decay; mixed precision), inherited as it is but for its samplers, which
# draw on the GPU (../models/mask_rcnn_on_device_samplers.py). whai362/PVT
# detection/configs/mask_rcnn_pvt_v2_b2_fpn_3x_mstrain.py trains the same recipe with a shorter
# warm-up, in fp32. vitdense names its position tables `pos_embed` and `cls_token`: they join the
# no-decay rule. A model config adds its backbone and the FPN's in_channels.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
    '../models/mask_rcnn_on_device_samplers.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

optim_wrapper = dict(
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}),
)
model = dict(train_cfg={{_base_.on_device_samplers}})
