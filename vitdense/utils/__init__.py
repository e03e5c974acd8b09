"""Utilities of vitdense."""

from .checkpoint_io import (
    CheckpointReadError,
    UntrustedCheckpointError,
    load_file,
    load_from_local,
    register_checkpoint_loaders,
    trusted_checkpoints,
)

__all__ = [
    'CheckpointReadError',
    'UntrustedCheckpointError',
    'load_file',
    'load_from_local',
    'register_checkpoint_loaders',
    'trusted_checkpoints',
]
