# UperNet on ADE20K, 160k iterations: mmseg's Swin protocol,
# swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py, inherited as it is
# (UperNet and its auxiliary FCN head, 512 crops, AdamW with norms and position tables excluded from
# weight decay, linear warm-up then linear decay, fp32, 8 GPUs x 2 images). facebookresearch/xcit
# semantic_segmentation/configs/xcit/upernet/upernet_xcit_small_12_p16_160k_ade20k.py, the protocol
# the Context Broadcasting paper follows, has the same optimizer, warm-up, schedule and heads.
# vitdense names its position tables `pos_embed` and `cls_token`: they join the no-decay rule. A
# model config adds its backbone and the heads' in_channels.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

optim_wrapper = dict(
    constructor='MergedGroupsOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}),
)
auto_scale_lr = dict(enable=False, base_batch_size=16)
