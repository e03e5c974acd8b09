# SG-Former backbones as config variables (upstream, OliverRensu/SG-Former, is classification only):
# `_delete_` replaces the protocol's backbone; a model config takes one variable and the matching
# stage channels. The ImageNet weights are upstream's releases on the Google Drive folder its README
# links, which users download by hand into checkpoints/ (a missing file stops with where to get it);
# their EMA weights, which give upstream's published accuracy.
sgformer_s = dict(
    _delete_=True,
    type='SGFormer',
    arch='s',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/sgformer_s.pth', use_ema=True),
)
sgformer_m = dict(
    sgformer_s,
    arch='m',
    drop_path_rate=0.2,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/sgformer_m.pth', use_ema=True),
)
sgformer_b = dict(
    sgformer_s,
    arch='b',
    drop_path_rate=0.3,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/sgformer_b.pth', use_ema=True),
)
sgformer_channels = [64, 128, 256, 512]
sgformer_b_channels = [96, 192, 384, 768]
# no weight decay on norms, the position embedding and the GroupNorms of the convolutions (`bn`)
sgformer_custom_keys = {
    'norm': dict(decay_mult=0.0),
    'pos_embed': dict(decay_mult=0.0),
    '.bn.': dict(decay_mult=0.0),
}
