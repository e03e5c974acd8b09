# SG-Former-M on ImageNet-1k: upstream's classifier (stage 4's closing norm, token mean, linear head) and
# recipe (README: drop path 0.2). Upstream's file (Google Drive) loads as it is, its EMA weights by default.
_base_ = '../_base_/protocols/imagenet_sgformer_310e.py'

model = dict(
    backbone=dict(type='SGFormer', arch='m', out_indices=(3,), drop_path_rate=0.2),
    head=dict(in_channels=512),
)
