# RetinaNet + FPN on COCO, 1x schedule, as LITv2 trained its released detectors:
# ziplab/LITv2 detection/configs/litv2/retinanet_litv2_s_fpn_1x_coco.py (commit d46323f, mmdet 2.11).
# mmdet's stock RetinaNet (FPN from the second level with extra convolutions on its input), data,
# schedule and runtime; AdamW, mixed precision (apex O1), 8 GPUs x 2 images. Upstream's
# `paramwise_cfg=dict({'norm': ...})` has no `custom_keys`, so mmcv applied no rule: every parameter,
# norms included, decays (ziplab/LIT's RetinaNet configs do exempt norms; see its model configs).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
)
