# UperNet with ConvMixer-768/32 (timm, through TimmPyramid) on ADE20K, 160k iterations, as a
# baseline under the protocol of ./litv2_s_160k_ade20k.py (mmseg's Swin protocol).
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/baselines.py']

model = dict(
    backbone={{_base_.convmixer_768}},
    decode_head=dict(in_channels=[768, 768, 768, 768]),
    auxiliary_head=dict(in_channels=768),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
