# ImageNet-1k fine-tuning at 384 x 384 for 30 epochs, as LITv2-B-384 was made: ziplab/LITv2
# classification/configs/litv2-base-finetune-384.yaml on the recipe of ./imagenet_swin_300e.py, from the
# 224 classifier's weights (the model config's load_from; upstream loads them without the optimizer).
# Its lr, warm-up, floor and weight decay are the yaml's, scaled to 8 GPUs x 128 images as upstream
# scales them; crops of 384; evaluation resizes to 384 x 384 without cropping (TEST.CROP False).
_base_ = './imagenet_swin_300e.py'

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic'),
    ),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std,
    ),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=4e-5, weight_decay=1e-8))
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=30,
        warmup_steps=5,
        warmup_lr=4e-8,
        min_lr=4e-7,
        lag=1,
        by_epoch=True,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(max_epochs=30)
