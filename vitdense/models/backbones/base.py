"""The contract every vitdense backbone follows.

A backbone takes ``arch`` (a size name from its ``arch_zoo`` or a dict with
the same keys), ``out_indices``, ``frozen_stages``, ``drop_path_rate``,
``with_cp`` and ``init_cfg``; it returns a tuple of NCHW tensors, one per
entry of ``out_indices``, and exposes ``out_channels`` and ``strides`` for
them. ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads an upstream
release through the backbone's converter, strictly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
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
        CheckpointMismatchError: If no state dict can be found.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'expected a dict-like checkpoint, got {type(checkpoint).__name__}')
    wrappers = ['state_dict_ema', 'model_ema', 'state_dict', 'model']
    if not prefer_ema:
        wrappers = wrappers[2:] + wrappers[:2]
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


def _format_keys(keys: Sequence[str], limit: int = 40) -> str:
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
            parts.append(f'{title} ({len(keys)}):\n  {_format_keys(keys)}')
    if mismatched and hint:
        parts.append(hint)
    raise CheckpointMismatchError('\n'.join(parts))


class StageFreezing(nn.Module):
    """``frozen_stages`` and ``norm_eval`` for a backbone that names its modules per stage.

    The backbone sets ``frozen_stages`` and ``norm_eval`` and implements
    ``stage_modules(index)`` (``-1``: the stem).
    """

    frozen_stages: int
    norm_eval: bool

    def stage_modules(self, index: int) -> list[nn.Module]:
        """Modules frozen with stage ``index`` (``-1``: the stem)."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for index in range(-1, self.frozen_stages):
            for module in self.stage_modules(index):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> StageFreezing:
        """Set train/eval mode; frozen stages (and, with ``norm_eval``, BatchNorms) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class PyramidBackbone(StageFreezing, BaseModule):
    """Base class of the vitdense pyramid backbones.

    Subclasses set ``arch_zoo`` and ``arch_keys``, build their layers, and
    implement ``forward``, ``reset_parameters``, ``convert_checkpoint`` and
    ``stage_modules``.

    Args:
        arch: A name in ``arch_zoo`` or a dict with the keys ``arch_keys``.
        out_indices: Stages (0-based) whose outputs are returned.
        frozen_stages: Stages to freeze: -1 none, 0 the stem, ``k`` the stem
            and the first ``k`` stages (parameters fixed, modules in eval mode).
        norm_eval: Keep every BatchNorm in eval mode while training.
        init_cfg: mmengine initialisation config; ``type='Pretrained'`` loads
            an upstream checkpoint through ``convert_checkpoint``.
    """

    arch_zoo: ClassVar[dict[str, dict[str, Any]]] = {}
    arch_keys: ClassVar[tuple[str, ...]] = ()
    #: Keys of ``arch`` that hold one entry per stage (checked against ``num_stages``).
    per_stage_keys: ClassVar[tuple[str, ...]] = ()
    num_stages: ClassVar[int] = 4
    #: Regexes of upstream keys the dense model does not use (the classifier,
    #: derived buffers); such keys are dropped on loading, and logged.
    dropped_keys: ClassVar[tuple[str, ...]] = (r'head\.', r'norm\.')

    def __init__(
        self,
        arch: str | dict,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm_eval = norm_eval
        self.arch_settings = self.parse_arch(arch)
        for key in self.per_stage_keys:
            if len(self.arch_settings[key]) != self.num_stages:
                raise ValueError(
                    f'{type(self).__name__}: arch {key} needs {self.num_stages} entries, '
                    f'got {self.arch_settings[key]}'
                )
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(
                f'{type(self).__name__}: frozen_stages must be in [-1, {self.num_stages}], '
                f'got {frozen_stages}'
            )
        self.frozen_stages = frozen_stages

    @classmethod
    def parse_arch(cls, arch: str | dict) -> dict[str, Any]:
        """Resolve ``arch`` into a settings dict, with a clear error for bad input."""
        name = cls.__name__
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'{name}: unknown arch {arch!r}; valid: {sorted(cls.arch_zoo)} '
                    f'or a dict with keys {list(cls.arch_keys)}'
                )
            return dict(cls.arch_zoo[key])
        if isinstance(arch, dict):
            missing = set(cls.arch_keys) - set(arch)
            extra = set(arch) - set(cls.arch_keys)
            if missing or extra:
                raise ValueError(
                    f'{name}: arch dict needs exactly the keys {list(cls.arch_keys)}; '
                    f'missing {sorted(missing)}, unexpected {sorted(extra)}'
                )
            return dict(arch)
        raise TypeError(f'{name}: arch must be a str or a dict, got {type(arch).__name__}')

    def _check_out_indices(self, out_indices: Sequence[int] | int) -> tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        indices = tuple(i % self.num_stages if -self.num_stages <= i < 0 else i for i in out_indices)
        bad = [i for i in indices if not 0 <= i < self.num_stages]
        if bad or not indices or len(set(indices)) != len(indices):
            raise ValueError(
                f'{type(self).__name__}: out_indices must be distinct stage indices in '
                f'[0, {self.num_stages}), got {tuple(out_indices)}'
            )
        return tuple(sorted(indices))

    @staticmethod
    def split_per_stage(values: Sequence, depths: Sequence[int]) -> list[list]:
        """Split a per-block list into one list per stage of ``depths`` blocks."""
        starts = [sum(depths[:i]) for i in range(len(depths))]
        return [list(values[start : start + depth]) for start, depth in zip(starts, depths, strict=True)]

    @classmethod
    def stage_drop_paths(cls, drop_path_rate: float, depths: Sequence[int]) -> list[list[float]]:
        """Stochastic depth rising linearly from 0 to ``drop_path_rate`` over all blocks, per stage."""
        return cls.split_per_stage(torch.linspace(0, drop_path_rate, sum(depths)).tolist(), depths)

    # ------------------------------------------------------------------ contract
    @property
    def stage_channels(self) -> list[int]:
        """Channels of every stage's output (all stages, not only ``out_indices``)."""
        return list(self.dims)

    @property
    def stage_strides(self) -> list[int]:
        """Nominal stride of every stage's output."""
        return [4, 8, 16, 32][: self.num_stages]

    @property
    def out_channels(self) -> list[int]:
        """Channels of the returned feature maps."""
        return [self.stage_channels[i] for i in self.out_indices]

    @property
    def strides(self) -> list[int]:
        """Nominal strides of the returned feature maps."""
        return [self.stage_strides[i] for i in self.out_indices]

    def stage_modules(self, index: int) -> list[nn.Module]:
        """Modules frozen with stage ``index``: the stem for -1, else the stage and its output norm."""
        if index < 0:
            return [self.patch_embed]
        norm = getattr(self, f'norm{index}', None)
        return [self.stages[index]] + ([norm] if norm is not None else [])

    # ---------------------------------------------------------- output norms
    def add_out_norms(self, stages: Sequence[int], eps: float = 1e-5) -> None:
        """Add a LayerNorm ``norm{i}`` on the output of each stage ``i`` returned in ``stages``."""
        for i in stages:
            if i in self.out_indices:
                self.add_module(f'norm{i}', nn.LayerNorm(self.stage_channels[i], eps=eps))

    def check_input_size(self, x: Tensor, min_side: int) -> None:
        """Raise a clear error for an input smaller than the network can take."""
        H, W = x.shape[-2:]
        if H < min_side or W < min_side:
            raise ValueError(
                f'{type(self).__name__} needs inputs of at least {min_side}x{min_side} pixels so that its '
                f'stride-32 stage keeps a token; got {H}x{W}'
            )

    def forward_stages(self, x: Tensor) -> tuple[Tensor, ...]:
        """Run ``self.stages`` on channels-last tokens; return the ``out_indices`` outputs (NCHW)."""
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)  # B, H_i, W_i, C_i
            if i in self.out_indices:
                outs.append(self.output(i, x))
        return tuple(outs)

    def output(self, index: int, x: Tensor) -> Tensor:
        """Stage ``index``'s channels-last map (B, H, W, C) as an NCHW output, normalised if it has a norm."""
        norm = getattr(self, f'norm{index}', None)
        if norm is not None:
            x = norm(x)
        return x.permute(0, 3, 1, 2).contiguous()

    # --------------------------------------------------------------- weights
    def reset_parameters(self) -> None:
        """Initialise the weights the way upstream does before pre-training.

        The default is the ViT scheme: truncated-normal (std 0.02) linears with
        zero bias, unit LayerNorms; subclasses add what differs.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def init_convs_he_fan_out(self) -> None:
        """He-normal initialisation by fan-out of every convolution, zero biases (PVTv2 and successors)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
                nn.init.normal_(module.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map an upstream state dict to this model's keys.

        It receives the state dict without the ``dropped_keys``;
        implementations rename keys and resize size-dependent tables to this
        model, and pass keys they do not know through unchanged so that the
        strict check reports them.
        """
        raise NotImplementedError

    def is_new_key(self, key: str) -> bool:
        """Whether ``key`` may be absent from an upstream checkpoint (dense-only layers)."""
        return False

    def init_weights(self) -> None:
        """Initialise as upstream does, or load ``init_cfg``'s pretrained checkpoint."""
        cfg = self.init_cfg
        if cfg is None or (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            self.reset_parameters()
            if cfg is not None:
                self.load_pretrained(
                    cfg['checkpoint'],
                    prefix=cfg.get('prefix'),
                    use_ema=cfg.get('use_ema', False),
                    trusted=cfg.get('trusted', False),
                )
            self._is_init = True
        else:
            super().init_weights()

    def load_pretrained(
        self, filename: str, prefix: str | None = None, use_ema: bool = False, trusted: bool = False
    ) -> None:
        """Load an upstream (or vitdense) checkpoint strictly.

        Args:
            filename: Path or URL of the checkpoint.
            prefix: Keep only keys under this prefix (e.g. ``'backbone.'`` to
                take the backbone out of a detector checkpoint).
            use_ema: Take the EMA weights (``state_dict_ema``) of a file that
                holds both (``init_cfg=dict(..., use_ema=True)``).
            trusted: Unpickle the file fully, running any code it holds
                (``init_cfg=dict(..., trusted=True)``); without it a file that
                pickles more than weights and known training state is refused
                (see :mod:`vitdense.utils.checkpoint_io`).

        Raises:
            CheckpointMismatchError: Listing missing, unexpected and
                wrong-shaped keys when the checkpoint does not fit.
        """
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
        name = type(self).__name__
        if prefix:
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            if not state_dict:
                raise CheckpointMismatchError(f'{name}: no key of {source} starts with {prefix!r}')
        dropped = [k for k in state_dict if any(re.match(p, k) for p in self.dropped_keys)]
        converted = self.convert_checkpoint({k: v for k, v in state_dict.items() if k not in dropped})
        own = self.state_dict()
        missing = [k for k in own if k not in converted and not self.is_new_key(k)]
        unexpected = [k for k in converted if k not in own]
        mismatched = [
            f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in converted.items()
            if k in own and v.shape != own[k].shape
        ]
        check_fit(
            name, source, missing, unexpected, mismatched, hint='(a checkpoint of another size? check `arch`)'
        )
        self.load_state_dict(converted, strict=False)
        new = [k for k in own if k not in converted]
        logger = MMLogger.get_current_instance()
        logger.info(f'{name}: loaded {len(converted)} tensors from {source}')
        if dropped:
            logger.info(f'{name}: dropped keys the dense model does not use:\n  {_format_keys(dropped)}')
        if new:
            logger.info(f'{name}: newly initialised (dense-only layers):\n  {_format_keys(new)}')


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

    Attention modules with ``q`` but no ``kv`` (e.g. SG-Former's guided attention) keep theirs.
    """
    fused = dict(state_dict)
    for key in [k for k in state_dict if '.attn.q.' in k]:
        kv = key.replace('.attn.q.', '.attn.kv.')
        if kv in fused:
            fused[key.replace('.attn.q.', '.attn.qkv.')] = torch.cat([fused.pop(key), fused.pop(kv)])
    return fused
