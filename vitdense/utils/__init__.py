"""Utilities of vitdense."""

from .checkpoint_io import CheckpointReadError, load_from_local, register_checkpoint_loaders

__all__ = ['CheckpointReadError', 'load_from_local', 'register_checkpoint_loaders']
