# The short (40k-iteration) UperNet schedule.
_base_ = ['./lit_s_160k_ade20k.py', '../_base_/schedules/ade20k_40k.py']
train_cfg = {{_base_.upernet_40k.train_cfg}}
param_scheduler = {{_base_.upernet_40k.param_scheduler}}
default_hooks = {{_base_.upernet_40k.default_hooks}}
