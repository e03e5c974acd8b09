# UperNet with LITv2-S on ADE20K, 160k iterations. Upstream LITv2 publishes no UperNet
# config; this follows mmseg's Swin protocol: AdamW lr 6e-5, weight decay 0.01 except on
# norms, 1500-iteration warm-up, linear (poly 1.0) decay, 512x512 crops, 8 GPUs x 2 images.
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    '../_base_/backbones/litv2.py',
]
custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.litv2_s_seg}},
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
)
auto_scale_lr = dict(enable=False, base_batch_size=16)
