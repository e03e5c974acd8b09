# ImageNet-1k classification as the hierarchical SpectFormer trains: badripatro/SpectFormers
# hierarchical_architecture/main.py with README's command (--token-label --token-label-size
# --token-label-data <label maps>), i.e. its build_token_label path: token labeling (zihangJiang/TokenLabeling
# tlt/, see vitdense/models/token_label.py) with the NFNet-F6 top-5 label maps that README names, which
# the user supplies (layout: vitdense/datasets/token_label.py). That path forces Mixup / CutMix off
# (MixToken inside the model is the only mixing), samples without repeated augmentation, picks the crop
# and RandAugment interpolation at random (bilinear or bicubic; per image here, per operation upstream),
# and flips and augments the whole image before the random resized crop, moving the label map with it.
# Optimiser, schedule, clipping and drop path are those of ./imagenet_spectformer_310e.py (the same
# main.py). The loss is main.py's TokenLabelCrossEntropy (soft cross-entropy of the class token against
# the crop's target plus a weighted one of every token against its own, loss/cross_entropy.py), the
# prediction spectformer.py's eval output (class logits plus weighted largest token logits), evaluated
# with build_token_label's loader_eval transform (its crop_pct, bicubic).
_base_ = './imagenet_spectformer_310e.py'

model = dict(
    type='TokenLabelClassifier',
    head=dict(
        _delete_=True,
        type='TokenLabelClsHead',
        num_classes=1000,
        in_channels=None,
        loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=1.0),
        aux_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=0.5),
        smoothing=0.1,
        aux_eval_weight=0.5,
        upstream_crop_axes=True,
        topk=(1, 5),
    ),
    train_cfg=None,
)

# timm's RandAugment (../datasets/imagenet_timm.py's rand_augment) whose rotations, shears and
# translations move the map with the image
augment = {
    i: dict(
        type='TokenLabelRandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val={{_base_.rand_augment.bicubic.hparams.pad_val}}, interpolation=i),
    )
    for i in ('bilinear', 'bicubic')
}
crop = {
    i: dict(type='RandomResizedCropWithCoords', scale=224, backend='pillow', interpolation=i)
    for i in ('bilinear', 'bicubic')
}
train_pipeline = [
    {{_base_.load_image}},
    dict(type='LoadTokenLabel'),
    dict(type='TokenLabelFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomChoice',
        transforms=[[augment['bilinear']], [augment['bicubic']]],
    ),
    dict(type='RandomChoice', transforms=[[crop['bilinear']], [crop['bicubic']]]),
    {{_base_.random_erasing}},
    dict(type='PackInputs', algorithm_keys=('token_label', 'token_label_crop')),
]
test_pipeline = [
    {{_base_.load_image}},
    dict(type='ResizeEdge', scale=233, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='TokenLabelImageNet', token_label_root='label_top5_train_nfnet', pipeline=train_pipeline
    ),
)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
