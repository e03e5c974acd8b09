# Mask R-CNN + FPN on COCO, 1x schedule, as LITv2 and LIT trained their released detectors:
# ziplab/LITv2 detection/configs/litv2/mask_rcnn_litv2_s_fpn_1x_coco.py (commit d46323f, mmdet 2.11)
# and ziplab/LIT detection/configs/lit/mask_rcnn_lit_s_fpn_1x_coco.py. The model, data, schedule
# (linear warm-up, steps at epochs 8 and 11) and runtime are mmdet's stock ones, which equal
# upstream's; upstream changed the optimizer (AdamW, norms without weight decay) and trained in
# mixed precision (apex O1) on 8 GPUs x 2 images. vitdense samples the RPN's and RoI head's
# targets on the GPU (../models/mask_rcnn_on_device_samplers.py). A model config adds its backbone
# and the FPN's in_channels.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../models/mask_rcnn_on_device_samplers.py']
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
)
model = dict(train_cfg={{_base_.on_device_samplers}})
