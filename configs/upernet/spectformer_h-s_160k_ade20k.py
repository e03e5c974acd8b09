# UperNet with SpectFormer-H-S on ADE20K: mmseg's Swin protocol (./litv2_s_160k_ade20k.py),
# with no decay on the spectral filters either.
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/spectformer.py']

model = dict(
    backbone={{_base_.spectformer_h_s}},
    decode_head=dict(in_channels=[64, 128, 320, 448]),
    auxiliary_head=dict(in_channels=320),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'complex_weight': dict(decay_mult=0.0)}))
