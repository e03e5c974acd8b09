# LITv2-S with 0.7 of the stage-3 heads in Lo-Fi attention (upstream's alpha ablation, released as
# https://github.com/ziplab/LITv2/releases/download/v1.1/alpha_0.7.pth; alpha 0.9 is ./litv2_s_in1k.py).
_base_ = '../_base_/protocols/imagenet_swin_300e.py'

model = dict(
    backbone=dict(type='LITv2', arch='s', alpha=0.7, out_indices=(3,), drop_path_rate=0.2),
    head=dict(in_channels=768),
)
