# LITv2-B fine-tuned at 384 x 384 (upstream's litv2_b_384.pth), from the 224 classifier.
_base_ = '../_base_/protocols/imagenet_swin_384_finetune_30e.py'

model = dict(
    backbone=dict(type='LITv2', arch='b', out_indices=(3,), drop_path_rate=0.5),
    head=dict(in_channels=1024),
)
load_from = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth'
