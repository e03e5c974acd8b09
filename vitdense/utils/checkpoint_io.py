"""Checkpoint file loading that works with torch >= 2.6 and fails clearly.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.x calls ``torch.load`` without the argument, so resuming from or testing
an mmengine checkpoint (its message hub pickles ``HistoryBuffer`` objects with
bound statistics methods and numpy arrays) fails. ``register_checkpoint_loaders``
replaces mmengine's loaders for local files and http(s) URLs with one that:

* loads plain weight files (e.g. upstream releases) with ``weights_only=True``;
* loads files that pickle other objects with full unpickling, as torch < 2.6
  did: quietly for mmengine's own training state, with a warning naming the
  objects otherwise (only load checkpoints you trust);
* turns a missing, truncated or corrupted file into one error naming the file.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
from typing import Any
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import CheckpointLoader

#: Globals that mmengine runner checkpoints pickle (message hub history, numpy).
MMENGINE_GLOBALS = {'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer'}


class CheckpointReadError(RuntimeError):
    """A checkpoint file that cannot be read."""


def _unsafe_globals(path: str) -> list[str]:
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be inspected
        return ['<unknown: legacy checkpoint format>']


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint file (see the module docstring).

    Named like mmengine's loader, whose name mmengine logs as the backend.

    Args:
        filename: Path of the file.
        map_location: As in ``torch.load``.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: If the file does not exist.
        CheckpointReadError: If it is not a readable PyTorch checkpoint.
    """
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Unsupported global' not in str(err):
            raise CheckpointReadError(
                f'cannot read checkpoint {filename}: corrupted or not a PyTorch checkpoint ({err})'
            ) from err
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointReadError(
            f'cannot read checkpoint {filename}: truncated, corrupted or not a PyTorch checkpoint '
            f'({type(err).__name__}: {err})'
        ) from err
    others = [g for g in _unsafe_globals(path) if g not in MMENGINE_GLOBALS and not g.startswith('numpy.')]
    if others:
        print_log(
            f'checkpoint {filename} pickles objects besides weights ({", ".join(others)}); '
            'loading it with full unpickling. Only load checkpoints you trust.',
            logger='current',
            level=30,
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise CheckpointReadError(f'cannot read checkpoint {filename}: {type(err).__name__}: {err}') from err


def load_from_http(url: str, map_location: Any = None, model_dir: str | None = None, **_: Any) -> Any:
    """Download ``url`` once into the torch hub cache (rank 0 first) and load it."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(cached):
        MMLogger.get_current_instance().info(f'downloading {url} to {cached}')
        torch.hub.download_url_to_file(url, cached, progress=False)
    if world_size > 1:
        barrier()
    return load_from_local(cached, map_location)


def register_checkpoint_loaders() -> None:
    """Make mmengine load local files and http(s) URLs through this module."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http, force=True)
