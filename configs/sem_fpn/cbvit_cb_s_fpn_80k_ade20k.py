_base_ = './cbvit_s_fpn_80k_ade20k.py'
model = dict(backbone=dict(cb='cb'))
