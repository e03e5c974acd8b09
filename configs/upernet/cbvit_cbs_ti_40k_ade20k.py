_base_ = './cbvit_ti_40k_ade20k.py'
model = dict(backbone=dict(cb='cbs'))
