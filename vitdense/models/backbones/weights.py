"""Checkpoints into backbones: unwrap, convert upstream layouts, and load strictly.

A backbone that mixes in :class:`ConvertsCheckpoints` names how upstream's keys map to
its own (``convert_checkpoint``), which upstream keys it does not use
(``dropped_keys``) and which of its own keys an upstream file may lack
(``is_new_key``). Then:

* ``load_pretrained(file)`` (``init_cfg=dict(type='Pretrained', ...)``) loads an
  upstream release, e.g. an ImageNet classifier, into the backbone;
* ``model.load_state_dict(...)`` of any model holding the backbone (a detector, a
  segmentor, a classifier), whoever calls it (``tools/test.py``, ``load_from``, the
  inferencers, plain PyTorch), converts the backbone's part when it is in upstream's
  layout, e.g. a released mmdet 2.x detector.

Both are strict: every tensor lands in the model, or one error lists the missing,
unexpected and wrong-shaped keys.
"""

from __future__ import annotations

import os.path as osp
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from ...utils.checkpoint_io import trusted_checkpoints


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose keys or shapes do not fit the model."""


def extract_state_dict(checkpoint: Any, prefer_ema: bool = False) -> dict[str, Tensor]:
    """Return the tensors of a loaded checkpoint, whatever its wrapping.

    Understands the ``model`` (DeiT/Swin/LIT releases), ``state_dict``
    (mmengine), ``state_dict_ema`` and ``model_ema`` wrappers and strips a
    ``module.`` prefix left by DataParallel/DDP.

    Args:
        checkpoint: What ``torch.load`` returned.
        prefer_ema: Take the EMA weights when the file holds both.

    Returns:
        A flat mapping from key to tensor.

    Raises:
        CheckpointMismatchError: If no state dict can be found, or EMA weights
            were asked for and the file has none.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'expected a dict-like checkpoint, got {type(checkpoint).__name__}')
    ema = ['state_dict_ema', 'model_ema']
    if prefer_ema and not any(isinstance(checkpoint.get(key), dict) for key in ema):
        raise CheckpointMismatchError(
            f'use_ema: the checkpoint holds no EMA weights; top-level keys: {sorted(checkpoint)}'
        )
    wrappers = ema + ['state_dict', 'model'] if prefer_ema else ['state_dict', 'model', *ema]
    for key in wrappers:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state_dict = {k: v for k, v in checkpoint.items() if isinstance(v, Tensor)}
    if not state_dict:
        raise CheckpointMismatchError(f'no tensors found; top-level keys: {sorted(checkpoint)}')
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.') :]: v for k, v in state_dict.items()}
    return state_dict


def format_keys(keys: Sequence[str], limit: int = 40) -> str:
    """The sorted keys, one per line, at most ``limit`` of them."""
    keys = sorted(keys)
    more = f'\n  ... and {len(keys) - limit} more' if len(keys) > limit else ''
    return '\n  '.join(keys[:limit]) + more


def check_fit(
    name: str,
    source: str,
    missing: Sequence[str],
    unexpected: Sequence[str],
    mismatched: Sequence[str],
    hint: str = '',
) -> None:
    """Raise one error listing every missing, unexpected and wrong-shaped key, if there is any.

    Raises:
        CheckpointMismatchError: If any of the lists is not empty.
    """
    if not (missing or unexpected or mismatched):
        return
    parts = [f'{name}: checkpoint {source} does not fit the model.']
    for title, keys in (('missing', missing), ('unexpected', unexpected), ('shape mismatch', mismatched)):
        if keys:
            parts.append(f'{title} ({len(keys)}):\n  {format_keys(keys)}')
    if hint:
        parts.append(hint)
    raise CheckpointMismatchError('\n'.join(parts))


def pretraining_hint(config: str, filename: str, alternative: str = '') -> str:
    """How to make ImageNet weights upstream never released: vitdense's pre-training config ``config``.

    Args:
        config: The pre-training config (upstream's recipe).
        filename: Where the dense config expects the checkpoint.
        alternative: A sentence on another config, e.g. for when ``config``'s extra data are missing.
    """
    work_dir = f'work_dirs/{osp.splitext(osp.basename(config))[0]}'
    return (
        'Upstream released no ImageNet weights for it; make them with vitdense\'s recipe (README, "Pre-train '
        f'on ImageNet"): `bash tools/dist_train.sh {config} 8 && cp $(cat {work_dir}/last_checkpoint) '
        f'{filename}`' + (f' ({alternative})' if alternative else '') + ', '
        'or train from scratch with --cfg-options model.backbone.init_cfg=None'
    )


class ConvertsCheckpoints(nn.Module):
    """Loading of upstream checkpoints into a backbone (see the module docstring).

    Subclasses implement :meth:`convert_checkpoint` and may set ``dropped_keys``,
    :meth:`is_new_key`, :meth:`describe` and :meth:`weights_hint`.
    """

    #: Regexes of upstream keys the dense model does not use (the classifier,
    #: derived buffers); such keys are dropped on loading, and logged.
    dropped_keys: ClassVar[tuple[str, ...]] = (r'head\.', r'norm\.')

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map an upstream state dict (``dropped_keys`` removed) to this model's keys.

        Implementations rename keys and resize size-dependent tables, and pass keys
        they do not know through unchanged so that the strict check reports them.
        """
        return state_dict

    def is_new_key(self, key: str) -> bool:
        """Whether ``key`` may be absent from an upstream classification release (dense-only layers)."""
        return False

    def describe(self) -> str:
        """The model in messages, e.g. ``LITv2(arch='s')``."""
        return type(self).__name__

    def weights_hint(self, filename: str) -> str:
        """Where to get a missing pretrained file (shown when ``filename`` does not exist)."""
        return ''

    def enable_upstream_state_dicts(self) -> None:
        """Convert this backbone's part of any state dict loaded into a model that holds it."""
        self._register_load_state_dict_pre_hook(self._convert_on_load)

    # ------------------------------------------------------------------ init_cfg
    def load_pretrained(
        self, filename: str, prefix: str | None = None, use_ema: bool = False, trusted: bool = False
    ) -> None:
        """Load an upstream (or vitdense) checkpoint strictly.

        Args:
            filename: Path or URL of the checkpoint.
            prefix: Keep only keys under this prefix (e.g. ``'backbone.'`` to
                take the backbone out of a detector or classifier checkpoint).
            use_ema: Take the EMA weights (``state_dict_ema``) of a file that
                holds both (``init_cfg=dict(..., use_ema=True)``).
            trusted: Unpickle the file fully, running any code it holds
                (``init_cfg=dict(..., trusted=True)``); without it a file that
                pickles more than weights and known training state is refused
                (see :mod:`vitdense.utils.checkpoint_io`).

        Raises:
            FileNotFoundError: If a local file does not exist (with where to get it).
            CheckpointMismatchError: Listing missing, unexpected and
                wrong-shaped keys when the checkpoint does not fit.
        """
        if '://' not in filename and not osp.isfile(osp.expanduser(filename)):
            hint = self.weights_hint(filename)
            raise FileNotFoundError(
                f'{self.describe()}: pretrained checkpoint {filename} not found.'
                + (f' {hint}' if hint else '')
            )
        logger = MMLogger.get_current_instance()
        with trusted_checkpoints(*([filename] if trusted else [])):
            checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu', logger=logger)
        self.load_converted(
            extract_state_dict(checkpoint, prefer_ema=use_ema), prefix=prefix, source=filename
        )

    def load_converted(
        self, state_dict: dict[str, Tensor], prefix: str | None = None, source: str = 'state dict'
    ) -> None:
        """Convert ``state_dict`` and load it strictly (see :meth:`load_pretrained`)."""
        name = self.describe()
        if prefix:
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            if not state_dict:
                raise CheckpointMismatchError(f'{name}: no key of {source} starts with {prefix!r}')
        dropped = [k for k in state_dict if any(re.match(p, k) for p in self.dropped_keys)]
        converted = self.convert_checkpoint({k: v for k, v in state_dict.items() if k not in dropped})
        own = self._own_state()
        self._check(converted, own, source, allow_new=True)
        self._load_state(converted)
        new = [k for k in own if k not in converted]
        logger = MMLogger.get_current_instance()
        logger.info(f'{name}: loaded {len(converted)} tensors from {source}')
        if dropped:
            logger.info(f'{name}: dropped keys the dense model does not use:\n  {format_keys(dropped)}')
        if new:
            logger.info(f'{name}: newly initialised (dense-only layers):\n  {format_keys(new)}')

    # ------------------------------------------------------------------ any load_state_dict
    def _convert_on_load(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load-state-dict pre-hook: convert the part under ``prefix`` if it is in upstream's layout.

        A part already in this model's layout is left to PyTorch. A converted part
        must fit exactly (no dense-only layer may be missing), or the load fails
        listing the keys.
        """
        part = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not part:
            return
        own = self._own_state()
        dropped = [k for k in part if k not in own and any(re.match(p, k) for p in self.dropped_keys)]
        kept = {k: v for k, v in part.items() if k not in dropped}
        converted = self.convert_checkpoint(dict(kept))
        if not dropped and converted.keys() == kept.keys():
            return  # this model's own layout
        self._check(converted, own, 'being loaded (upstream layout)', allow_new=False)
        for key in part:
            del state_dict[prefix + key]
        state_dict.update({prefix + k: v for k, v in converted.items()})
        MMLogger.get_current_instance().info(
            f'{self.describe()}: converted {len(part)} upstream tensors under {prefix!r}'
            + (f'; dropped unused ones:\n  {format_keys(dropped)}' if dropped else '')
        )

    # ------------------------------------------------------------------ helpers
    def _own_state(self) -> dict[str, Tensor]:
        return self.state_dict()

    def _load_state(self, state_dict: dict[str, Tensor]) -> None:
        self.load_state_dict(state_dict, strict=False)

    def _check(
        self, converted: dict[str, Tensor], own: dict[str, Tensor], source: str, allow_new: bool
    ) -> None:
        missing = [k for k in own if k not in converted and not (allow_new and self.is_new_key(k))]
        unexpected = [k for k in converted if k not in own]
        mismatched = [
            f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in converted.items()
            if k in own and v.shape != own[k].shape
        ]
        hint = self.fit_hint(converted) if (missing or unexpected or mismatched) else ''
        check_fit(self.describe(), source, missing, unexpected, mismatched, hint=hint)

    def fit_hint(self, converted: dict[str, Tensor]) -> str:
        """A sentence on what the checkpoint seems to hold (e.g. another size), for mismatch errors."""
        return '(a checkpoint of another size or model? check `arch`)'


# ------------------------------------------------------------------ converter steps
def rename_pvt_layout(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename the PVT-style upstream layout to vitdense's stages.

    ``patch_embed1`` becomes the stem, ``patch_embed{2..4}`` the downsampling that
    starts stages 2-4, ``block{i}.j`` the blocks and ``norm{i}`` the norm closing
    stage ``i``; a block's ``mlp`` becomes ``ffn`` (its ``dwconv.dwconv``, ``dwconv``).
    Other keys pass unchanged.
    """
    converted = {}
    for key, value in state_dict.items():
        new = key
        if m := re.match(r'patch_embed1\.(.*)', key):
            new = f'patch_embed.{m.group(1)}'
        elif m := re.match(r'patch_embed(\d)\.(.*)', key):
            new = f'stages.{int(m.group(1)) - 1}.downsample.{m.group(2)}'
        elif m := re.match(r'norm(\d)\.(.*)', key):
            new = f'stages.{int(m.group(1)) - 1}.norm.{m.group(2)}'
        elif m := re.match(r'block(\d)\.(.*)', key):
            rest = m.group(2).replace('.mlp.dwconv.dwconv.', '.ffn.dwconv.').replace('.mlp.', '.ffn.')
            new = f'stages.{int(m.group(1)) - 1}.blocks.{rest}'
        converted[new] = value
    return converted


def fuse_q_kv(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Fuse separate ``attn.q`` and ``attn.kv`` projections into one ``attn.qkv`` (rows ``[q; k; v]``).

    Attention modules with ``q`` but no ``kv`` (e.g. SG-Former's guided attention) keep theirs, and so
    do the class-attention blocks outside the stages (SpectFormer's ``post_network``).
    """
    fused = dict(state_dict)
    for key in [k for k in state_dict if '.attn.q.' in k and k.startswith('stages.')]:
        kv = key.replace('.attn.q.', '.attn.kv.')
        if kv in fused:
            fused[key.replace('.attn.q.', '.attn.qkv.')] = torch.cat([fused.pop(key), fused.pop(kv)])
    return fused
