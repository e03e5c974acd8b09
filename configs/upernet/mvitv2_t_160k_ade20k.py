# UperNet with MViTv2-T (mmpretrain's MViT) on ADE20K, 160k iterations, as a
# baseline under the protocol of ./litv2_s_160k_ade20k.py (mmseg's Swin protocol).
_base_ = ['./litv2_s_160k_ade20k.py', '../_base_/backbones/baselines.py']
custom_imports = dict(imports=['vitdense', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.mvitv2_t}},
    decode_head=dict(in_channels={{_base_.mvit_channels}}),
    auxiliary_head=dict(in_channels=384),
)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.baseline_custom_keys}}))
