# ImageNet-1k classification, 310 epochs, as the hierarchical SpectFormer trains without token labels:
# badripatro/SpectFormers hierarchical_architecture/main.py (a DeiT-codebase script; README's command,
# 8 GPUs x 128 images, 310 epochs) on its path without --token-label-data (build_no_token_label): the
# recipe of ./imagenet_deit_300e.py (mixup / cutmix, repeated augmentation, the per-epoch schedule one
# epoch behind, no EMA) with SpectFormer's differences: the cosine over 310 epochs without cooldown, no
# weight decay on 1-D parameters and biases only (the spectral filters decay), no exemption for position
# tables (it has none). Its classifier ends with a class-attention block over stage 4's tokens (the
# backbone's out_type='cls_token'). Upstream trains with token labels (./imagenet_spectformer_tl_310e.py,
# when the label maps exist); this recipe is the one for when they do not.
_base_ = './imagenet_deit_300e.py'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(_delete_=True)))
param_scheduler = [
    dict(
        type='TimmCosineLR', t_initial=310, warmup_steps=5, warmup_lr=1e-6, min_lr=1e-5, lag=1, by_epoch=True
    )
]
train_cfg = dict(max_epochs=310)
