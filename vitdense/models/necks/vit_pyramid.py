"""A 4-level pyramid from the single-scale maps of a plain ViT."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

OUT_STRIDES = (4, 8, 16, 32)


@MODELS.register_module()
class ViTPyramidNeck(BaseModule):
    """Strides 4, 8, 16, 32 from single-stride maps: transposed convolutions up, max-pooling down.

    As in XCiT / BEiT dense prediction, for stride-16 maps: the first map goes through
    two 2x2 stride-2 transposed convolutions (norm and GELU between), the second
    through one, the third is kept, the fourth is max-pooled. Maps of another
    power-of-two stride shift the same scheme (stride 8: one transposed convolution,
    identity, max-pool /2, max-pool /4). Given a single map, all four levels come
    from it. Channels are unchanged, so a following FPN or UperNet head takes ``[C] * 4``.

    Args:
        in_channels: Channels of the ViT maps (one int, or four equal ints).
        in_stride: Stride of the input maps: 4, 8, 16 or 32.
        norm_cfg: Norm between two transposed convolutions.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        in_channels: int | Sequence[int],
        in_stride: int = 16,
        norm_cfg: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = {in_channels} if isinstance(in_channels, int) else set(in_channels)
        if len(channels) != 1:
            raise ValueError(f'ViTPyramidNeck: the ViT maps must share one channel count, got {in_channels}')
        if in_stride not in OUT_STRIDES:
            raise ValueError(f'ViTPyramidNeck: in_stride must be one of {OUT_STRIDES}, got {in_stride}')
        (c,) = channels
        self.in_stride = in_stride
        for level, stride in enumerate(OUT_STRIDES, 1):
            self.add_module(f'fpn{level}', self._resampler(c, round(math.log2(in_stride / stride)), norm_cfg))

    @staticmethod
    def _resampler(c: int, ups: int, norm_cfg: dict | None) -> nn.Module:
        """``ups`` x2 upsamplings (transposed convolutions), or ``-ups`` x2 downsamplings (one max-pool)."""
        if ups == 0:
            return nn.Identity()
        if ups < 0:
            return nn.MaxPool2d(2**-ups, 2**-ups)
        layers: list[nn.Module] = [nn.ConvTranspose2d(c, c, 2, 2)]
        for _ in range(ups - 1):
            layers += [
                build_norm_layer(norm_cfg or dict(type='BN'), c)[1],
                nn.GELU(),
                nn.ConvTranspose2d(c, c, 2, 2),
            ]
        return nn.Sequential(*layers) if len(layers) > 1 else layers[0]

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """Map one or four NCHW maps of stride ``in_stride`` to the four levels."""
        if len(inputs) not in (1, 4):
            raise ValueError(f'ViTPyramidNeck takes 1 or 4 maps, got {len(inputs)}')
        inputs = list(inputs) * (4 // len(inputs))
        return tuple(
            op(x) for op, x in zip((self.fpn1, self.fpn2, self.fpn3, self.fpn4), inputs, strict=True)
        )
