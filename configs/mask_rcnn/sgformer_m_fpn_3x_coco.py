_base_ = './sgformer_s_fpn_3x_coco.py'
model = dict(backbone=dict(arch='m', drop_path_rate=0.2))
