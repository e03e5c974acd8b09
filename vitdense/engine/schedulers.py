"""timm's cosine learning-rate schedule, as the upstream ImageNet recipes run it.

mmengine's ``LinearLR`` + ``CosineAnnealingLR`` differ from timm's ``CosineLRScheduler``
(timm 0.3-0.6, which every upstream recipe uses) in three ways that change the curve:

* timm warms every parameter group up from the same absolute ``warmup_lr`` (mmengine:
  a factor of each group's lr), so LIT's 0.01x deformable-offset group goes from
  ``warmup_lr`` to its own peak;
* timm's cosine phase counts from step 0, the warm-up steps inside it (mmengine restarts
  the phase where the warm-up ends);
* DeiT-style scripts call ``scheduler.step(epoch)`` after epoch ``e``, so epoch ``e`` runs
  at the value of step ``e - 1`` (``lag=1``); Swin-style ones update after every
  iteration, so iteration ``k`` runs at the value of ``k - 1`` (also ``lag=1``).

After ``t_initial`` the value stays at ``min_lr`` (timm's single cycle; SG-Former's 10
cooldown epochs train there).
"""

from __future__ import annotations

import math
from typing import Any

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, OptimizerType, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class TimmCosineParamScheduler(_ParamScheduler):
    """timm's ``CosineLRScheduler`` with a linear warm-up (see the module docstring).

    Value of group ``g`` at step ``t`` (``t`` = the scheduler's step minus ``lag``, at least 0)::

        warmup_value + t * (base_g - warmup_value) / warmup_steps           if t < warmup_steps
        min_value + (base_g - min_value) * (1 + cos(pi * t / t_initial)) / 2   if t < t_initial
        min_value                                                              otherwise

    Args:
        optimizer: The wrapped optimizer.
        param_name: The parameter scheduled (``lr``).
        t_initial: Length of the cosine, in steps (epochs, or iterations when
            converted from epochs).
        warmup_steps: Warm-up length, inside ``t_initial``.
        warmup_value: Absolute start of the warm-up, the same for every group.
        min_value: Absolute floor, the same for every group.
        lag: Steps the value trails the step counter (1 for ``step(epoch)``-style scripts).
        begin: Step where the scheduler starts.
        end: Step where it stops.
        last_step: For resuming without a state dict.
        by_epoch: Steps are epochs.
        verbose: Print every update.
    """

    def __init__(
        self,
        optimizer: OptimizerType,
        param_name: str,
        t_initial: int,
        warmup_steps: int = 0,
        warmup_value: float = 0.0,
        min_value: float = 0.0,
        lag: int = 0,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if not 0 <= warmup_steps <= t_initial:
            raise ValueError(
                f'TimmCosine: need 0 <= warmup_steps <= t_initial, got {warmup_steps} and {t_initial}'
            )
        self.t_initial, self.warmup_steps, self.lag = t_initial, warmup_steps, lag
        self.warmup_value, self.min_value = warmup_value, min_value
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @classmethod
    def build_iter_from_epoch(
        cls,
        *args: Any,
        t_initial: int,
        warmup_steps: int = 0,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = True,
        epoch_length: int | None = None,
        **kwargs: Any,
    ) -> TimmCosineParamScheduler:
        """The iteration-based twin of an epoch-based config (Swin-codebase recipes step every iteration)."""
        if not by_epoch or not epoch_length:
            raise ValueError('TimmCosine: convert_to_iter_based needs by_epoch=True and the epoch length')
        return cls(
            *args,
            t_initial=t_initial * epoch_length,
            warmup_steps=warmup_steps * epoch_length,
            begin=begin * epoch_length,
            end=end if end == INF else end * epoch_length,
            by_epoch=False,
            **kwargs,
        )

    def value_at(self, base: float, step: int) -> float:
        """The closed form of the schedule for a group whose peak is ``base``."""
        t = max(step - self.lag, 0)
        if t < self.warmup_steps:
            return self.warmup_value + t * (base - self.warmup_value) / self.warmup_steps
        if t < self.t_initial:
            return self.min_value + (base - self.min_value) * (1 + math.cos(math.pi * t / self.t_initial)) / 2
        return self.min_value

    def _get_value(self) -> list[float]:
        step = self.last_step - self.begin
        return [self.value_at(base, step) for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, TimmCosineParamScheduler):
    """:class:`TimmCosineParamScheduler` for the learning rate (``warmup_lr``, ``min_lr``)."""

    def __init__(
        self, optimizer: OptimizerType, *args: Any, warmup_lr: float = 0.0, min_lr: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(optimizer, *args, warmup_value=warmup_lr, min_value=min_lr, **kwargs)
