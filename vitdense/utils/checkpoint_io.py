"""Checkpoint loading that never runs code from a file nobody chose to trust.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine 0.10
calls ``torch.load`` without the argument, so its own training checkpoints (the
message hub pickles ``HistoryBuffer`` objects and numpy values) no longer load.
``register_checkpoint_loaders`` (run by ``import vitdense``) replaces mmengine's
loaders for local files, http(s) URLs and the ``open-mmlab://`` /
``torchvision://`` / ``mmcls://`` names with one that:

* reads the file's pickle without running it and refuses, naming the file and the
  objects, a file that would build anything outside :func:`allowed_globals`: the
  harmless objects real checkpoints carry (mmengine's training state, numpy
  scalars and arrays, ``argparse.Namespace`` from timm / DeiT savers, the yacs
  ``CfgNode`` of Swin-codebase savers, loaded as a plain mapping);
* then loads with ``weights_only=True`` and that allow-list, so torch enforces it;
* unpickles fully only a file the user named as trusted, explicitly:
  ``init_cfg=dict(type='Pretrained', checkpoint=..., trusted=True)`` on a vitdense
  backbone, ``--trust-checkpoint FILE_OR_URL`` on the tools, or the
  ``VITDENSE_TRUST_CHECKPOINTS`` environment variable (comma-separated paths or URLs);
* downloads into the torch hub cache through a temporary file that is moved into
  place only when complete (its length checked against ``Content-Length``, its
  SHA-256 against the ``name-<hash>.ext`` prefix where the URL carries one), and
  fetches again a cached file that is truncated or fails its hash;
* turns a missing, truncated or corrupted file into one error naming the file.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import functools
import hashlib
import io
import os
import os.path as osp
import pickle
import pickletools
import re
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

#: Environment variable naming trusted checkpoints (comma-separated paths or URLs).
TRUST_ENV = 'VITDENSE_TRUST_CHECKPOINTS'
#: ``name-<sha256 prefix>.ext``, the torch hub / OpenMMLab convention (8+ hex digits).
HASH_REGEX = re.compile(r'-([a-f0-9]{8,})\.')
#: What the tools add to their command line (see :func:`add_trust_argument`).
TRUST_HELP = (
    'trust this checkpoint (path or URL; repeatable): unpickle it fully, running any code it '
    'holds; without it a file that pickles more than weights and known training state is refused'
)


class CheckpointReadError(RuntimeError):
    """A checkpoint file that cannot be read."""


class UntrustedCheckpointError(CheckpointReadError):
    """A checkpoint that would build objects outside the allow-list and was not trusted."""


# ------------------------------------------------------------------ allow-list
#: The class attributes that real checkpoints pickle as ``getattr(class, name)`` (pickle
#: protocol 2 writes a function with a nested qualname that way): the statistics
#: methods ``HistoryBuffer.__getstate__`` stores, and the annealing function in
#: the state of mmengine's ``OneCycleLR``.
PICKLED_ATTRIBUTES = {
    HistoryBuffer: frozenset({'min', 'max', 'mean', 'current'}),
    OneCycleParamScheduler: frozenset({'_annealing_cos', '_annealing_linear'}),
}


def pickled_attribute(owner: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling: only :data:`PICKLED_ATTRIBUTES`.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if name in PICKLED_ATTRIBUTES.get(owner, ()):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__qualname__", type(owner).__name__)}, {name!r}) is not allowed'
    )


def _numpy_globals() -> dict[str, Any]:
    """Numpy scalars, arrays and dtypes under the names numpy 1.x and 2.x pickle them with."""
    core = np._core if hasattr(np, '_core') else np.core
    objects = {
        'multiarray.scalar': core.multiarray.scalar,
        'multiarray._reconstruct': core.multiarray._reconstruct,
    }
    names = {f'numpy.{package}.{name}': obj for package in ('core', '_core') for name, obj in objects.items()}
    names.update({'numpy.ndarray': np.ndarray, 'numpy.dtype': np.dtype})
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25 may pickle dtype classes by name
    for name in dir(dtypes) if dtypes is not None else []:
        if name.endswith('DType'):
            names[f'numpy.dtypes.{name}'] = getattr(dtypes, name)
    return names


@functools.lru_cache(maxsize=1)
def allowed_globals() -> dict[str, Any]:
    """Every non-torch global a checkpoint may pickle, by the name it is pickled under.

    What real checkpoints carry, from their savers' code:

    * mmengine runner checkpoints: ``HistoryBuffer`` of the message hub with its
      statistics methods (``getattr``, restricted by :func:`pickled_attribute`),
      numpy arrays and scalars (``eta``, mmseg metrics), ``OneCycleLR``'s annealing
      function;
    * mmcv 1.x savers (mmdet 2.x / mmseg 0.x): numpy metrics in ``hook_msgs``, a
      numpy ``PALETTE`` for custom classes;
    * timm's ``CheckpointSaver`` and DeiT's ``main.py``: ``argparse.Namespace`` args;
    * Swin-codebase savers (LITv2 / LIT ImageNet): yacs ``CfgNode``, loaded as an ``OrderedDict``.
    """
    import argparse

    names = _numpy_globals()
    names.update(
        {
            'mmengine.logging.history_buffer.HistoryBuffer': HistoryBuffer,
            'mmengine.optim.scheduler.param_scheduler.OneCycleParamScheduler': OneCycleParamScheduler,
            'builtins.getattr': pickled_attribute,
            'argparse.Namespace': argparse.Namespace,
            # a dict subclass; torch only fills exact dicts, so it loads as an OrderedDict whose
            # __dict__ takes the node's flags (yacs is never imported)
            'yacs.config.CfgNode': OrderedDict,
        }
    )
    return names


#: Globals torch's weights-only unpickler allows by itself besides ``torch.*``.
TORCH_BUILTIN_GLOBALS = frozenset(
    {'collections.OrderedDict', 'collections.Counter', '_codecs.encode', 'builtins.bytearray', 'builtins.set'}
    | {'builtins.complex'}
)


def _is_allowed(name: str) -> bool:
    # torch's own globals (tensors, storages, dtypes) are judged by torch's unpickler
    return name in allowed_globals() or name in TORCH_BUILTIN_GLOBALS or name.startswith('torch.')


# ------------------------------------------------------------------ inspection
def _globals_in_pickle(stream: BinaryIO) -> set[str]:
    """Names of the globals one pickle in ``stream`` refers to, read without running it."""
    found, memo, pushed = set(), {}, []
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name == 'GLOBAL':  # protocols 0-2 write Python 2 names, which unpickling maps back
            module, attr = arg.split(' ', 1)
            module, attr = _compat_pickle.NAME_MAPPING.get((module, attr), (module, attr))
            found.add(f'{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attr}')
        elif name == 'STACK_GLOBAL' and len(pushed) >= 2:
            found.add(f'{pushed[-2]}.{pushed[-1]}')
        if name in ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE'):
            pushed.append(arg)
        elif name in ('BINGET', 'LONG_BINGET', 'GET'):
            pushed.append(memo.get(arg))
        elif name in ('BINPUT', 'LONG_BINPUT', 'PUT'):
            memo[arg] = pushed[-1] if pushed else None
        elif name == 'MEMOIZE':
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name != 'STOP':
            pushed.append(None)
        if name == 'STOP':
            break
    return found


def pickled_globals(path: str) -> set[str]:
    """Every global the checkpoint at ``path`` would look up when unpickled, found without running it.

    Reads the ``data.pkl`` of torch's zip format, or the pickles of the legacy format.

    Raises:
        CheckpointReadError: If the file is neither.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pkl = [n for n in archive.namelist() if n.endswith('data.pkl')]
                if not pkl:
                    raise CheckpointReadError(f'cannot read checkpoint {path}: a zip file without data.pkl')
                return _globals_in_pickle(io.BytesIO(archive.read(pkl[0])))
        with open(path, 'rb') as f:  # legacy: magic number, protocol, system info, then the object
            return set().union(*(_globals_in_pickle(f) for _ in range(4)))
    except CheckpointReadError:
        raise
    except Exception as err:  # noqa: BLE001 - pickletools and zipfile raise many types for a bad file
        raise CheckpointReadError(
            f'cannot read checkpoint {path}: truncated, corrupted or not a PyTorch checkpoint '
            f'({type(err).__name__}: {err})'
        ) from err


# ------------------------------------------------------------------ trust
_trusted_in_context: list[str] = []


def _identity(name: str) -> str:
    """How a checkpoint is recognised as trusted: its URL, or its real local path."""
    return name if '://' in name else osp.realpath(osp.expanduser(name))


def trusted_names() -> set[str]:
    """The checkpoints trusted now: ``VITDENSE_TRUST_CHECKPOINTS`` and :func:`trusted_checkpoints`."""
    names = [n.strip() for n in os.environ.get(TRUST_ENV, '').split(',') if n.strip()]
    return {_identity(n) for n in [*names, *_trusted_in_context]}


def is_trusted(name: str) -> bool:
    """Whether the user named checkpoint ``name`` (a path or URL) as trusted."""
    return _identity(name) in trusted_names()


@contextlib.contextmanager
def trusted_checkpoints(*names: str) -> Iterator[None]:
    """Trust the checkpoints ``names`` (paths or URLs) while the block runs."""
    _trusted_in_context.extend(names)
    try:
        yield
    finally:
        for name in names:
            _trusted_in_context.remove(name)


def trust_from_args(names: list[str] | None) -> None:
    """Add the tools' ``--trust-checkpoint`` values to the environment (inherited by workers)."""
    if names:
        old = [n for n in os.environ.get(TRUST_ENV, '').split(',') if n]
        os.environ[TRUST_ENV] = ','.join([*old, *names])


# ------------------------------------------------------------------ loading
def _refusal(source: str, what: str) -> UntrustedCheckpointError:
    return UntrustedCheckpointError(
        f'refusing to load checkpoint {source}: {what}; nothing from the file was run. Load only '
        'files you trust; to trust this one, pass init_cfg=dict(type="Pretrained", checkpoint=..., '
        f'trusted=True) to a vitdense backbone, --trust-checkpoint {source} to the tools, or set '
        f'{TRUST_ENV}={source}'
    )


def load_file(path: str, map_location: Any = None, trusted: bool = False, source: str | None = None) -> Any:
    """Load a local checkpoint file (see the module docstring).

    Args:
        path: Path of the file.
        map_location: As in ``torch.load``.
        trusted: Unpickle everything (the user trusts the file).
        source: How to name the file in messages (its URL), default ``path``.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: If the file does not exist.
        UntrustedCheckpointError: If it pickles objects outside the allow-list and is not trusted.
        CheckpointReadError: If it is not a readable PyTorch checkpoint.
    """
    source = source or path
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {source}')
    if trusted:
        MMLogger.get_current_instance().warning(f'loading trusted checkpoint {source} with full unpickling')
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:  # noqa: BLE001
            raise CheckpointReadError(
                f'cannot read checkpoint {source}: {type(err).__name__}: {err}'
            ) from err
    refused = sorted(g for g in pickled_globals(path) if not _is_allowed(g))
    if refused:
        raise _refusal(source, f'it pickles {", ".join(refused)}, which could run code when unpickled')
    safe = [(obj, name) for name, obj in allowed_globals().items()]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # torch's own check, or a restricted stand-in, refused it
        reason = str(err).split('WeightsUnpickler error:')[-1].strip().splitlines()[0]
        if reason.startswith('Unsupported operand'):
            raise CheckpointReadError(
                f'cannot read checkpoint {source} safely: it was pickled with a protocol newer than 2, '
                f"which torch's weights-only loader cannot read ({reason}); re-save it with torch.save's "
                'default protocol, or trust it (see the --trust-checkpoint option of the tools)'
            ) from err
        raise _refusal(source, f"torch's weights-only loader refused it ({reason})") from err
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointReadError(
            f'cannot read checkpoint {source}: truncated, corrupted or not a PyTorch checkpoint '
            f'({type(err).__name__}: {err})'
        ) from err


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """The local loader of mmengine: :func:`load_file`, trusted only if the user named the file.

    Named like mmengine's loader, whose name mmengine logs as the backend.
    """
    return load_file(filename, map_location, trusted=is_trusted(filename))


def download(url: str, dst: str, hash_prefix: str | None = None) -> None:
    """Download ``url`` to ``dst`` whole, or not at all.

    The bytes go to a temporary file beside ``dst``, which replaces ``dst`` only
    once its length matches the server's ``Content-Length`` and its SHA-256
    starts with ``hash_prefix`` (when given); otherwise it is deleted.

    Raises:
        CheckpointReadError: If the download is incomplete or fails its hash.
    """
    fd, tmp = tempfile.mkstemp(
        dir=osp.dirname(osp.abspath(dst)), prefix=osp.basename(dst) + '.', suffix='.partial'
    )
    try:
        sha256, size = hashlib.sha256(), 0
        with os.fdopen(fd, 'wb') as f, urlopen(Request(url, headers={'User-Agent': 'vitdense'})) as response:
            expected = response.headers.get('Content-Length')
            while chunk := response.read(1 << 20):
                f.write(chunk)
                sha256.update(chunk)
                size += len(chunk)
        if expected is not None and size != int(expected):
            raise CheckpointReadError(f'download of {url} incomplete: {size} of {expected} bytes')
        if hash_prefix and not sha256.hexdigest().startswith(hash_prefix):
            raise CheckpointReadError(
                f'download of {url} is corrupted: its SHA-256 is {sha256.hexdigest()[:16]}..., '
                f'the file name says {hash_prefix}'
            )
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _sha256(path: str) -> str:
    sha256 = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
    return sha256.hexdigest()


def load_from_http(url: str, map_location: Any = None, model_dir: str | None = None, **_: Any) -> Any:
    """Download ``url`` once into the torch hub cache (rank 0 first) and load it.

    A cached file that fails its hash, or cannot be read, is fetched again.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    name = osp.basename(urlparse(url).path)
    cached = osp.join(model_dir, name)
    match = HASH_REGEX.search(name)
    hash_prefix = match.group(1) if match else None
    rank, world_size = get_dist_info()
    logger = MMLogger.get_current_instance()

    def fetch(reason: str) -> None:
        if rank == 0:
            logger.info(f'downloading {url} to {cached}{reason}')
            download(url, cached, hash_prefix)
        if world_size > 1:
            barrier()

    if not osp.isfile(cached) or (hash_prefix and _sha256(cached)[: len(hash_prefix)] != hash_prefix):
        fetch('' if not osp.isfile(cached) else ' (the cached file fails its hash)')
    trusted = is_trusted(url)
    try:
        return load_file(cached, map_location, trusted=trusted, source=url)
    except UntrustedCheckpointError:
        raise
    except CheckpointReadError:  # e.g. truncated by an older tool: fetch it again, once
        fetch(' (the cached file cannot be read)')
        return load_file(cached, map_location, trusted=trusted, source=url)


def _openmmlab_name(filename: str) -> str:
    """The URL (or file under mmengine's home) of an ``open-mmlab://`` name."""
    name = filename.split('://', 1)[1]
    name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    url = mmengine_checkpoint.get_external_models()[name]
    return (
        url
        if url.startswith(('http://', 'https://'))
        else osp.join(mmengine_checkpoint._get_mmengine_home(), url)
    )


def _named(resolve: Callable[[str], str], process: Callable[[Any], Any] = lambda c: c) -> Callable:
    """A loader for ``scheme://name``: the file mmengine names, through this module's loaders."""

    def load_named(filename: str, map_location: Any = None) -> Any:
        return process(CheckpointLoader.load_checkpoint(resolve(filename), map_location, logger='current'))

    return load_named


def load_from_timm(filename: str, map_location: Any = None) -> dict[str, Any]:
    """``timm://MODEL``: timm's pretrained weights of MODEL, from the Hugging Face hub or timm's cache."""
    import timm

    return {'state_dict': timm.create_model(filename.split('://', 1)[1], pretrained=True).state_dict()}


def register_checkpoint_loaders() -> None:
    """Make mmengine load local files, http(s) URLs, OpenMMLab and timm model names through this module."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http, force=True)
    CheckpointLoader.register_scheme(prefixes='timm://', loader=load_from_timm, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('open-mmlab://', 'openmmlab://'), loader=_named(_openmmlab_name), force=True
    )
    CheckpointLoader.register_scheme(
        prefixes=('modelzoo://', 'torchvision://'),
        loader=_named(lambda f: mmengine_checkpoint.get_torchvision_models()[f.split('://', 1)[1]]),
        force=True,
    )
    CheckpointLoader.register_scheme(
        prefixes='mmcls://',
        loader=_named(
            lambda f: mmengine_checkpoint.get_mmcls_models()[f.split('://', 1)[1]],
            mmengine_checkpoint._process_mmcls_checkpoint,
        ),
        force=True,
    )
