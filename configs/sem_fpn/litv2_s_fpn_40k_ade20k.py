# The short (40k-iteration) Semantic FPN schedule.
_base_ = ['./litv2_s_fpn_80k_ade20k.py', '../_base_/schedules/ade20k_40k.py']
train_cfg = {{_base_.sem_fpn_40k.train_cfg}}
param_scheduler = {{_base_.sem_fpn_40k.param_scheduler}}
default_hooks = {{_base_.sem_fpn_40k.default_hooks}}
