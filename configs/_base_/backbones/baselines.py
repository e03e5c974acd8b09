# Baseline backbones as config variables, for the comparison configs under the vitdense
# protocols. OpenMMLab's own implementations where they exist (mmdet PVT / PVTv2 / Swin,
# mmseg SegFormer-MiT and Swin, mmpretrain MViTv2), timm's through TimmPyramid otherwise;
# each with the ImageNet-1k weights its implementation documents.
pvt_s = dict(
    _delete_=True,
    type='mmdet.PyramidVisionTransformer',
    num_layers=[3, 4, 6, 3],
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/whai362/PVT/releases/download/v2/pvt_small.pth'
    ),
)
pvtv2_b2 = dict(
    _delete_=True,
    type='mmdet.PyramidVisionTransformerV2',
    embed_dims=64,
    num_layers=[3, 4, 6, 3],
    init_cfg=dict(
        type='Pretrained', checkpoint='https://github.com/whai362/PVT/releases/download/v2/pvt_v2_b2.pth'
    ),
)
pvt_channels = [64, 128, 320, 512]
# mmdet's Mask R-CNN Swin-T backbone (drop path 0.2); mmseg's UperNet one differs (below)
swin_t = dict(
    _delete_=True,
    type='mmdet.SwinTransformer',
    embed_dims=96,
    depths=[2, 2, 6, 2],
    num_heads=[3, 6, 12, 24],
    window_size=7,
    drop_path_rate=0.2,
    convert_weights=True,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth',
    ),
)
swin_t_seg = dict(
    _delete_=True,
    type='mmseg.SwinTransformer',
    embed_dims=96,
    depths=[2, 2, 6, 2],
    num_heads=[3, 6, 12, 24],
    window_size=7,
    use_abs_pos_embed=False,
    drop_path_rate=0.3,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/'
        'swin_tiny_patch4_window7_224_20220317-1cdeb081.pth',
    ),
)
swin_channels = [96, 192, 384, 768]
vit_s_channels = [384] * 4
convmixer_channels = [768] * 4
mit_b2 = dict(
    _delete_=True,
    type='mmseg.MixVisionTransformer',
    embed_dims=64,
    num_heads=[1, 2, 5, 8],
    num_layers=[3, 4, 6, 3],
    drop_path_rate=0.1,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b2_20220624-66e8bf70.pth',
    ),
)
# mmpretrain's MViT: timm's MViTv2 ties its relative-position tables to 224x224 inputs
mvitv2_t = dict(
    _delete_=True,
    type='mmpretrain.MViT',
    arch='tiny',
    out_scales=[0, 1, 2, 3],
    drop_path_rate=0.1,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmclassification/v0/mvit/'
        'mvitv2-tiny_3rdparty_in1k_20220722-db7beeef.pth',
        prefix='backbone.',
    ),
)
mvit_channels = [96, 192, 384, 768]
# Single-scale timm models: blocks 3, 5, 7, 11 (the XCiT / BEiT / Context Broadcasting
# choice) become strides 4-32 inside TimmPyramid; `timm://MODEL` names timm's weights. XCiT-S12's
# drop path is facebookresearch/xcit's for dense prediction (its detection and segmentation configs);
# DeiT-S takes CBViT-S's.
xcit_s12 = dict(
    _delete_=True,
    type='TimmPyramid',
    model_name='xcit_small_12_p16_224',
    init_cfg=dict(type='Pretrained', checkpoint='timm://xcit_small_12_p16_224'),
    block_indices=(3, 5, 7, 11),
    drop_path_rate=0.05,
    pyramid_norm_cfg=dict(type='SyncBN', requires_grad=True),
)
deit_s = dict(
    xcit_s12,
    model_name='deit_small_patch16_224',
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint='timm://deit_small_patch16_224'),
)
# ConvMixer-768/32 (patch 7): its stride-7 maps are resampled to stride 8 before the pyramid
convmixer_768 = dict(
    _delete_=True,
    type='TimmPyramid',
    model_name='convmixer_768_32',
    init_cfg=dict(type='Pretrained', checkpoint='timm://convmixer_768_32'),
    block_indices=(7, 15, 23, 31),
    pyramid_norm_cfg=dict(type='SyncBN', requires_grad=True),
)
# no weight decay on norms, position embeddings, class tokens and relative-position tables
baseline_custom_keys = {
    'norm': dict(decay_mult=0.0),
    'pos_embed': dict(decay_mult=0.0),
    'cls_token': dict(decay_mult=0.0),
    'relative_position_bias_table': dict(decay_mult=0.0),
    'rel_pos': dict(decay_mult=0.0),
}
