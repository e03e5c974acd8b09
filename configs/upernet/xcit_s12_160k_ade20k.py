# UperNet with XCiT-S12/16 (timm, through TimmPyramid) on ADE20K, 160k iterations, as a
# baseline under the protocol of ./litv2_s_160k_ade20k.py (mmseg's Swin protocol).
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/baselines.py']

model = dict(
    backbone={{_base_.xcit_s12}},
    decode_head=dict(in_channels=[384, 384, 384, 384], channels=384),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
