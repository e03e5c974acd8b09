"""A hook on checkpoint loading: which weights of the file, and loaded strictly."""

from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import _load_checkpoint_to_model


@HOOKS.register_module()
class LoadCheckpointHook(Hook):
    """Choose the weights of a loaded checkpoint and check that they fit the model exactly.

    mmengine loads ``load_from`` (and ``tools/test.py``'s checkpoint) non-strictly: keys
    that do not fit are only logged. This hook runs first after the file is read:

    * ``key``: take the weights from this entry of the file when it has it, e.g.
      ``'state_dict_ema'`` for SG-Former's and timm's EMA weights;
    * ``strict``: load them strictly once, so that a missing, unexpected or wrong-shaped
      tensor stops the run with the keys listed, naming the file and the config. An
      upstream layout is converted by the model on the way (see
      :class:`~vitdense.models.backbones.weights.ConvertsCheckpoints`).

    Args:
        key: Entry of the checkpoint holding the weights, if present.
        strict: Check the fit (off for fine-tuning a model of another shape).
    """

    priority = 'VERY_HIGH'  # before EMAHook copies the weights into its average

    def __init__(self, key: str | None = None, strict: bool = True) -> None:
        self.key, self.strict = key, strict

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Select ``key`` and check the fit (see the class docstring)."""
        if self.key and isinstance(checkpoint.get(self.key), dict):
            checkpoint['state_dict'] = checkpoint[self.key]
        if not self.strict or runner._resume:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        try:
            _load_checkpoint_to_model(model, checkpoint, strict=True)
        except Exception as err:
            raise type(err)(
                f'checkpoint {runner.cfg.get("load_from")} does not fit the model of config '
                f'{runner.cfg.filename}:\n{err}'
            ) from err
