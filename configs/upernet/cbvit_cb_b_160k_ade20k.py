_base_ = './cbvit_b_160k_ade20k.py'
model = dict(backbone=dict(cb='cb'))
