# UperNet with SG-Former-S on ADE20K: mmseg's Swin protocol (./litv2_s_160k_ade20k.py), no
# decay on the position embedding and GroupNorms either.
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/sgformer.py']

model = dict(
    backbone={{_base_.sgformer_s}},
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256),
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), '.bn.': dict(decay_mult=0.0)})
)
