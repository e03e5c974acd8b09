# UperNet with a plain ViT-S (DeiT-S weights) on ADE20K, 160k iterations: the XCiT protocol of
# the Context Broadcasting paper (AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01, poly
# 1.0 after a 1500-iteration warm-up, 512 crops, 8 GPUs x 2 images), which is mmseg's Swin
# protocol of ./litv2_s_160k_ade20k.py. Blocks 3, 5, 7, 11 become strides 4-32 through
# ViTPyramidNeck; UperNet channels 384 (192 for Ti, 512 for B), as the paper's Table 7.
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/cbvit.py']

model = dict(
    backbone={{_base_.cbvit_s}},
    neck={{_base_.vit_pyramid_s}},
    decode_head=dict(in_channels=[384, 384, 384, 384], channels=384),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)})
)
