_base_ = './cbvit_s_40k_ade20k.py'
model = dict(backbone=dict(cb='cb'))
