_base_ = './sgformer_s_fpn_80k_ade20k.py'
model = dict(backbone=dict(arch='m', drop_path_rate=0.2))
