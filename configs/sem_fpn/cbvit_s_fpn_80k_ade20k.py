# Semantic FPN with a plain ViT-S (DeiT-S weights) on ADE20K: the protocol of
# ./litv2_s_fpn_80k_ade20k.py, blocks 3, 5, 7, 11 turned into strides 4-32 by ViTPyramidNeck.
_base_ = ['./litv2_s_fpn_80k_ade20k.py', '../_base_/backbones/cbvit.py']

model = dict(
    backbone={{_base_.cbvit_s}},
    neck=[
        {{_base_.vit_pyramid_s}},
        dict(type='FPN', in_channels=[384, 384, 384, 384], out_channels=256, num_outs=4),
    ],
)
