# ViT-Ti (DeiT size) with context broadcasting with learned scales in every block (CBS), on ImageNet-1k with the DeiT recipe
# (Hyeon-Woo et al., ICCV 2023: the CB ViTs are DeiT-trained). Its checkpoint initialises the dense
# configs of the same backbone (configs/_base_/backbones/cbvit.py, under checkpoints/).
_base_ = '../_base_/protocols/imagenet_deit_300e.py'

model = dict(
    backbone=dict(
        type='CBViT', arch='ti', cb='cbs', out_type='cls_token', out_indices=(11,), drop_path_rate=0.1
    ),
    head=dict(in_channels=192),
)
