# LIT-Ti; upstream trains it in fp32 without parameter-wise weight decay.
_base_ = './lit_s_fpn_1x_coco.py'
model = dict(backbone={{_base_.lit_ti}}, neck=dict(in_channels={{_base_.lit_ti_channels}}))
optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer={{_base_.optim_wrapper.optimizer}})
