"""Training pieces the upstream recipes use and mmengine / mmpretrain lack."""

from .schedulers import TimmCosineLR, TimmCosineParamScheduler

__all__ = ['TimmCosineLR', 'TimmCosineParamScheduler']
