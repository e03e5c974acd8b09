# Hierarchical SpectFormer backbones as config variables (upstream, badripatro/SpectFormers, is
# classification only and released no weights): `_delete_` replaces the protocol's backbone; a model
# config takes one variable and the matching stage channels. The ImageNet weights are the output of
# vitdense's pre-training (configs/imagenet/, README "Pre-train on ImageNet"), expected under
# checkpoints/; a missing file stops with the command that makes it.
spectformer_h_s = dict(
    _delete_=True,
    type='SpectFormer',
    arch='h-s',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/spectformer_h-s_in1k.pth', prefix='backbone.'),
)
spectformer_h_b = dict(
    spectformer_h_s,
    arch='h-b',
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/spectformer_h-b_in1k.pth', prefix='backbone.'),
)
spectformer_h_l = dict(
    spectformer_h_s,
    arch='h-l',
    drop_path_rate=0.3,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/spectformer_h-l_in1k.pth', prefix='backbone.'),
)
spectformer_h_s_channels = [64, 128, 320, 448]
spectformer_h_b_channels = [64, 128, 320, 512]
spectformer_h_l_channels = [96, 192, 384, 512]
# no weight decay on norms and the spectral filters
spectformer_custom_keys = {'norm': dict(decay_mult=0.0), 'complex_weight': dict(decay_mult=0.0)}
