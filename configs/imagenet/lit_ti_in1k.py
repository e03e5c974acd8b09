# LIT-Ti on ImageNet-1k: upstream's classifier (a class token joins stage 4, whose position table has its
# first row; a final norm; a linear head on the class token) and recipe: ziplab/LIT
# classification/code_for_lit_ti/ (params.py, main.py, config/lit-ti.json), the DeiT recipe with these
# differences: no weight decay on the class token only (the position tables decay), the deformable
# offsets' weights at a hundredth of the lr (dconv_lr_ratio), no EMA. Upstream's released lit_ti.pth
# loads as it is.
_base_ = '../_base_/protocols/imagenet_deit_300e.py'

model = dict(
    backbone=dict(type='LIT', arch='ti', out_type='cls_token', out_indices=(3,), drop_path_rate=0.1),
    head=dict(in_channels=512),
)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone.cls_token': dict(decay_mult=0.0),
            'conv_offset.weight': dict(lr_mult=0.01),
            'conv_offset.bias': dict(decay_mult=0.0),
        },
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
    )
)
