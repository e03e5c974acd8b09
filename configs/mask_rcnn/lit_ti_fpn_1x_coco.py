# LIT-Ti (PVT-style: absolute position embeddings, no output norms). Upstream trains it in
# fp32 without parameter-wise weight decay.
_base_ = './lit_s_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='ti',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint='https://github.com/ziplab/LIT/releases/download/v1.0/lit_ti.pth'),
    ),
    neck=dict(in_channels=[64, 128, 320, 512]),
)
optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer={{_base_.optim_wrapper.optimizer}})
