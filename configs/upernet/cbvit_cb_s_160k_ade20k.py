_base_ = './cbvit_s_160k_ade20k.py'
model = dict(backbone=dict(cb='cb'))
