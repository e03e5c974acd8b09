"""Training pieces the upstream recipes use and mmengine / mmpretrain lack."""

from .hooks import LoadCheckpointHook
from .optim import MergedGroupsOptimWrapperConstructor, merge_param_groups
from .schedulers import TimmCosineLR, TimmCosineParamScheduler

__all__ = [
    'LoadCheckpointHook',
    'MergedGroupsOptimWrapperConstructor',
    'TimmCosineLR',
    'TimmCosineParamScheduler',
    'merge_param_groups',
]
