"""Training pieces the upstream recipes use and mmengine / mmpretrain lack."""

from .hooks import LoadCheckpointHook
from .schedulers import TimmCosineLR, TimmCosineParamScheduler

__all__ = ['LoadCheckpointHook', 'TimmCosineLR', 'TimmCosineParamScheduler']
