# UperNet with Swin-T (mmdet's SwinTransformer; mmseg's for UperNet) on ADE20K, 160k iterations, as a
# baseline under the protocol of ./litv2_s_160k_ade20k.py (mmseg's Swin protocol).
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/baselines.py']

model = dict(
    backbone={{_base_.swin_t_seg}},
    decode_head=dict(in_channels={{_base_.swin_channels}}),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
