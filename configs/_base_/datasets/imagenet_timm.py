# ImageNet-1k with timm's augmentation as the upstream recipes use it (random resized crop, flip,
# RandAugment rand-m9-mstd0.5-inc1, random erasing with probability 0.25; timm's colour jitter is off
# when RandAugment is on), decoded with PIL as upstream, and its evaluation transform (resize the
# short side to 224 / 0.875, centre crop 224, bicubic): mmpretrain's
# _base_/datasets/imagenet_bs64_swin_224.py with PIL decoding, 8 GPUs x 128 images and the last
# partial batch dropped.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
# the pieces other recipes reuse ({{_base_.rand_augment.bilinear}}, ...): timm's rand-m9-mstd0.5-inc1
# by interpolation, random erasing, the evaluation transform's ends
rand_augment = {
    i: dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation=i),
    )
    for i in ('bilinear', 'bicubic')
}
random_erasing = dict(
    type='RandomErasing',
    erase_prob=0.25,
    mode='rand',
    min_area_ratio=0.02,
    max_area_ratio=1 / 3,
    fill_color=bgr_mean,
    fill_std=bgr_std,
)
load_image = dict(type='LoadImageFromFile', imdecode_backend='pillow')
train_pipeline = [
    load_image,
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    rand_augment['bicubic'],
    random_erasing,
    dict(type='PackInputs'),
]
test_pipeline = [
    load_image,
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128, num_workers=8, drop_last=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, num_workers=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
