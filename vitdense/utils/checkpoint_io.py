"""Checkpoint file loading that works with torch >= 2.6 and fails clearly.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.x calls ``torch.load`` without the argument, so resuming from an
mmengine checkpoint (which pickles its message hub's ``HistoryBuffer`` and
numpy arrays) fails. ``register_checkpoint_loaders`` replaces mmengine's loaders
for local files and http(s) URLs with one that:

* loads with ``weights_only=True`` and an allow-list of the types mmengine
  checkpoints hold, so the usual train -> resume -> test path stays safe;
* falls back to full unpickling, with a warning naming the type, for a
  checkpoint that holds other objects (e.g. a release that pickled its
  training config);
* turns a missing, truncated or corrupted file into one error naming the file.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import HistoryBuffer, MMLogger, print_log
from mmengine.runner.checkpoint import CheckpointLoader


class CheckpointReadError(RuntimeError):
    """A checkpoint file that cannot be read."""


def _allowed_globals() -> list[Any]:
    """Types that mmengine checkpoints pickle besides tensors and builtins."""
    multiarray = getattr(np, '_core', np.core).multiarray
    dtype_classes = {type(np.dtype(t)) for t in np.sctypeDict.values()}
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        *sorted(dtype_classes, key=str),
    ]


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
        with torch.serialization.safe_globals(_allowed_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Unsupported global' not in str(err):
            raise CheckpointReadError(
                f'cannot read checkpoint {filename}: corrupted or not a PyTorch checkpoint ({err})'
            ) from err
        reason = str(err).split('Unsupported global:')[-1].split('was not')[0].strip()
        print_log(
            f'checkpoint {filename} pickles objects outside the weights-only allow-list '
            f'({reason}); loading it with full unpickling. Only load checkpoints you trust.',
            logger='current',
            level=30,
        )
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointReadError(
            f'cannot read checkpoint {filename}: truncated, corrupted or not a PyTorch checkpoint '
            f'({type(err).__name__}: {err})'
        ) from err
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise CheckpointReadError(f'cannot read checkpoint {filename}: {type(err).__name__}: {err}') from err


def load_from_http(
    url: str, map_location: Any = None, model_dir: str | None = None, **_: Any
) -> Any:
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
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http, force=True
    )
