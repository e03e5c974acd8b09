"""The contract every vitdense backbone follows, declared once per backbone.

In the spirit of timm's ``feature_info`` and detectron2's ``output_shape()``: a
backbone declares its stem and its stages (:class:`StageSpec`: output channels,
stride, the modules that compute it) once, with :meth:`DenseBackbone.declare_stages`.
``out_channels`` and ``strides`` of the returned maps, ``frozen_stages`` (the stem,
then whole stages), ``out_indices`` checks and ``norm_eval`` derive from that.

* :class:`DenseBackbone`: the contract (also :class:`~.timm_pyramid.TimmPyramid`'s);
  mmseg's deprecated ``pretrained=`` is mapped to ``init_cfg`` as mmseg's own
  backbones do.
* :class:`UpstreamBackbone`: a vitdense implementation of an upstream architecture:
  sizes by ``arch``, upstream's initialisation, upstream's checkpoints (through
  :class:`~.weights.ConvertsCheckpoints`).
* :class:`PyramidBackbone`: the hierarchical ones (LITv2, LIT, SpectFormer,
  SG-Former): four :class:`~vitdense.models.layers.Stage` of strides 4-32.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from timm.layers import calculate_drop_path_rates
from torch import Tensor, nn

from .weights import CheckpointMismatchError, ConvertsCheckpoints

__all__ = ['CheckpointMismatchError', 'DenseBackbone', 'PyramidBackbone', 'StageSpec', 'UpstreamBackbone']


@dataclass(frozen=True)
class StageSpec:
    """One stage of a backbone, as the contract sees it.

    Args:
        channels: Channels of the stage's output map.
        stride: Its nominal stride in pixels.
        modules: Names (attribute paths) of the modules and parameters that compute
            the output from the previous stage's: frozen together with the stage.
    """

    channels: int
    stride: int
    modules: tuple[str, ...]


def pretrained_to_init_cfg(name: str, pretrained: str | None, init_cfg: dict | list | None) -> Any:
    """The deprecated ``pretrained=`` of mmseg (its segmentors pass it to the backbone) as ``init_cfg``."""
    if pretrained is None:
        return init_cfg
    if init_cfg is not None:
        raise ValueError(f'{name}: init_cfg and pretrained cannot be set at the same time')
    if not isinstance(pretrained, str):
        raise TypeError(f'{name}: pretrained must be a str or None, got {type(pretrained).__name__}')
    warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead', stacklevel=3)
    return dict(type='Pretrained', checkpoint=pretrained)


class DenseBackbone(BaseModule):
    """A backbone returning a tuple of NCHW maps, one per entry of ``out_indices``.

    Subclasses build their layers, then call :meth:`declare_stages` once.

    Args:
        num_stages: How many stages the backbone has (``out_indices`` index them).
        out_indices: Stages whose outputs are returned.
        frozen_stages: -1 none, 0 the stem, ``k`` the stem and the first ``k``
            stages (parameters fixed, modules in eval mode).
        norm_eval: Keep every BatchNorm in eval mode while training.
        pretrained: Deprecated (mmseg's segmentors pass it): a checkpoint, mapped to
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        num_stages: int,
        out_indices: Sequence[int] | int,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(init_cfg=pretrained_to_init_cfg(type(self).__name__, pretrained, init_cfg))
        self.num_stages = num_stages
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'{type(self).__name__}: frozen_stages must be in [-1, {num_stages}], got {frozen_stages}'
            )
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.stem: tuple[str, ...] = ()
        self.stage_specs: tuple[StageSpec, ...] = ()

    def _check_out_indices(self, out_indices: Sequence[int] | int) -> tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        n = self.num_stages
        indices = tuple(i % n if -n <= i < 0 else i for i in out_indices)
        if not indices or len(set(indices)) != len(indices) or not all(0 <= i < n for i in indices):
            raise ValueError(
                f'{type(self).__name__}: out_indices must be distinct stage indices in [0, {n}), '
                f'got {tuple(out_indices)}'
            )
        return tuple(sorted(indices))

    def declare_stages(self, stem: Sequence[str], stages: Sequence[StageSpec]) -> None:
        """Declare the stem and the stages (once, after building the layers); applies ``frozen_stages``.

        Args:
            stem: Names of the modules and parameters before the first stage.
            stages: One :class:`StageSpec` per stage.
        """
        if len(stages) != self.num_stages:
            raise ValueError(
                f'{type(self).__name__}: declared {len(stages)} stages, expected {self.num_stages}'
            )
        for name in [*stem, *(m for s in stages for m in s.modules)]:
            self._resolve(name)  # a typo fails at construction, not when freezing
        self.stem, self.stage_specs = tuple(stem), tuple(stages)
        self._freeze_stages()

    # ------------------------------------------------------------------ derived
    @property
    def stage_channels(self) -> list[int]:
        """Channels of every stage's output (all stages, not only ``out_indices``)."""
        return [s.channels for s in self.stage_specs]

    @property
    def stage_strides(self) -> list[int]:
        """Nominal stride of every stage's output."""
        return [s.stride for s in self.stage_specs]

    @property
    def out_channels(self) -> list[int]:
        """Channels of the returned feature maps."""
        return [self.stage_specs[i].channels for i in self.out_indices]

    @property
    def strides(self) -> list[int]:
        """Nominal strides of the returned feature maps."""
        return [self.stage_specs[i].stride for i in self.out_indices]

    def _resolve(self, name: str) -> nn.Module | nn.Parameter:
        try:
            return self.get_submodule(name)
        except AttributeError:
            try:
                return self.get_parameter(name)
            except AttributeError as err:
                raise AttributeError(
                    f'{type(self).__name__}: declared {name!r} is no module or parameter'
                ) from err

    def stage_modules(self, index: int) -> list[nn.Module | nn.Parameter]:
        """What freezes with stage ``index`` (``-1``: the stem): modules and parameters."""
        names = self.stem if index < 0 else self.stage_specs[index].modules
        return [self._resolve(name) for name in names]

    # ------------------------------------------------------------------ freezing
    def _freeze_stages(self) -> None:
        for index in range(-1, self.frozen_stages):
            for item in self.stage_modules(index):
                if isinstance(item, nn.Module):
                    item.eval()
                    item.requires_grad_(False)
                else:
                    item.requires_grad = False

    def train(self, mode: bool = True) -> DenseBackbone:
        """Set train/eval mode; frozen stages (and, with ``norm_eval``, BatchNorms) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class UpstreamBackbone(ConvertsCheckpoints, DenseBackbone):
    """A vitdense implementation of an upstream architecture.

    Subclasses set ``arch_zoo`` (sizes) and ``arch_keys``, build their layers,
    declare their stages, and implement ``forward``, ``reset_parameters`` and
    ``convert_checkpoint``. ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix=None, use_ema=False, trusted=False)`` loads an upstream release strictly
    (see :class:`~.weights.ConvertsCheckpoints`); any ``load_state_dict`` of a
    model holding the backbone converts upstream's layout.

    Args:
        arch: A name in ``arch_zoo`` or a dict with the keys ``arch_keys``.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`DenseBackbone`.
        norm_eval: See :class:`DenseBackbone`.
        pretrained: See :class:`DenseBackbone`.
        init_cfg: ``type='Pretrained'`` loads an upstream checkpoint; None
            initialises as upstream does before pre-training.
    """

    arch_zoo: ClassVar[dict[str, dict[str, Any]]] = {}
    arch_keys: ClassVar[tuple[str, ...]] = ()
    #: Keys of ``arch`` that hold one entry per stage (checked against ``num_stages``).
    per_stage_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        arch: str | dict,
        out_indices: Sequence[int] | int,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        self.arch_name = arch if isinstance(arch, str) else 'custom'
        settings = self.parse_arch(arch)
        num_stages = self.count_stages(settings)
        for key in self.per_stage_keys:
            if len(settings[key]) != num_stages:
                raise ValueError(
                    f'{type(self).__name__}: arch {key} needs {num_stages} entries, got {settings[key]}'
                )
        super().__init__(num_stages, out_indices, frozen_stages, norm_eval, pretrained, init_cfg)
        self.arch_settings = settings
        self.enable_upstream_state_dicts()

    @classmethod
    def count_stages(cls, settings: dict[str, Any]) -> int:
        """How many stages an architecture of these settings has (4 for the pyramids)."""
        return 4

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

    def describe(self) -> str:
        """The model in messages: ``LITv2(arch='s')``."""
        return f'{type(self).__name__}(arch={self.arch_name!r})'

    def fit_hint(self, converted: dict[str, Tensor]) -> str:
        """Name the size of ``arch_zoo`` whose shapes the checkpoint has, if it is another one."""
        import torch

        for arch in self.arch_zoo:
            if arch == self.arch_name:
                continue
            with torch.device('meta'):
                shapes = {k: v.shape for k, v in type(self)(arch=arch).state_dict().items()}
            shared = [k for k in converted if k in shapes]
            if len(shared) >= 0.9 * len(converted) and all(shapes[k] == converted[k].shape for k in shared):
                name = type(self).__name__
                return f'(its shapes are those of {name} arch {arch!r}; the model is {self.describe()})'
        return super().fit_hint(converted)

    # ------------------------------------------------------------------ weights
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


class PyramidBackbone(UpstreamBackbone):
    """A hierarchical backbone: a stem (``patch_embed``), then four stages of strides 4-32.

    Subclasses build ``self.stages`` (:class:`~vitdense.models.layers.Stage`) and
    optional output norms (:meth:`add_out_norms`), then call :meth:`declare_pyramid`.
    """

    @staticmethod
    def stage_drop_paths(drop_path_rate: float, depths: Sequence[int]) -> list[list[float]]:
        """Stochastic depth rising linearly from 0 to ``drop_path_rate`` over all blocks, per stage."""
        return calculate_drop_path_rates(drop_path_rate, list(depths), stagewise=True)

    def add_out_norms(self, stages: Sequence[int], channels: Sequence[int], eps: float = 1e-5) -> None:
        """Add a LayerNorm ``norm{i}`` on the output of each stage ``i`` in ``stages`` that is returned."""
        for i in stages:
            if i in self.out_indices:
                self.add_module(f'norm{i}', nn.LayerNorm(channels[i], eps=eps))

    def declare_pyramid(
        self, channels: Sequence[int], stem: Sequence[str] = ('patch_embed',), last: Sequence[str] = ()
    ) -> None:
        """Declare ``stem`` and the four stages: ``stages.i`` and its output norm ``norm{i}``.

        ``last`` names more modules of the last stage (LIT-Ti's classifier: its class token, final norm).
        """
        stages = []
        for i, c in enumerate(channels):
            names = (f'stages.{i}',) + ((f'norm{i}',) if hasattr(self, f'norm{i}') else ())
            stages.append(StageSpec(c, 4 * 2**i, names + (tuple(last) if i == len(channels) - 1 else ())))
        self.declare_stages(stem, stages)

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
                norm = getattr(self, f'norm{i}', None)
                outs.append((norm(x) if norm is not None else x).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
