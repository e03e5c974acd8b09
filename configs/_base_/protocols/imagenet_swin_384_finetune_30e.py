# ImageNet-1k fine-tuning at 384 x 384 for 30 epochs, as LITv2-B-384 was made: ziplab/LITv2
# classification/configs/litv2-base-finetune-384.yaml on the recipe of ./imagenet_swin_300e.py, from the
# 224 classifier's weights (the model config's load_from; upstream loads them without the optimizer).
# Its lr, warm-up, floor and weight decay are the yaml's, scaled to 8 GPUs x 128 images as upstream
# scales them; crops of 384; evaluation resizes to 384 x 384 without cropping (TEST.CROP False).
_base_ = './imagenet_swin_300e.py'

train_pipeline = [
    {{_base_.load_image}},
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment.bicubic}},
    {{_base_.random_erasing}},
    dict(type='PackInputs'),
]
test_pipeline = [
    {{_base_.load_image}},
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
