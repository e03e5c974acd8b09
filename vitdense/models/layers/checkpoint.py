"""Activation checkpointing of one block."""

from __future__ import annotations

from typing import Any

import torch
import torch.utils.checkpoint as cp
from torch import nn


def maybe_checkpoint(block: nn.Module, *args: Any, enabled: bool) -> Any:
    """Run ``block(*args)``, recomputing its activations in backward when ``enabled`` and grads are on."""
    if enabled and torch.is_grad_enabled():
        return cp.checkpoint(block, *args, use_reentrant=False)
    return block(*args)
