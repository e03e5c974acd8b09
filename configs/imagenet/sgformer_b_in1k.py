# SG-Former-B on ImageNet-1k: upstream's classifier (stage 4's closing norm, token mean, linear head) and
# recipe (README: drop path 0.4). Upstream's file (Google Drive) loads as it is, its EMA weights by default.
_base_ = '../_base_/protocols/imagenet_sgformer_310e.py'

model = dict(
    backbone=dict(type='SGFormer', arch='b', out_indices=(3,), drop_path_rate=0.4),
    head=dict(in_channels=768),
)
