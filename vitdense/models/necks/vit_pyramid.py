"""A 4-level pyramid from the single-scale maps of a plain ViT."""

from __future__ import annotations

from collections.abc import Sequence

from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class ViTPyramidNeck(BaseModule):
    """Strides 4, 8, 16, 32 from stride-16 maps: deconv x4, deconv x2, identity, max-pool /2.

    As in XCiT / BEiT dense prediction: the first map goes through two 2x2 stride-2
    transposed convolutions (norm and GELU between), the second through one, the third
    is kept, the fourth is max-pooled. Given a single map, all four levels come from it.
    Channels are unchanged, so a following FPN or UperNet head takes ``[C] * 4``.

    Args:
        in_channels: Channels of the ViT maps (one int, or four equal ints).
        norm_cfg: Norm between the two transposed convolutions.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self, in_channels: int | Sequence[int], norm_cfg: dict | None = None, init_cfg: dict | None = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = {in_channels} if isinstance(in_channels, int) else set(in_channels)
        if len(channels) != 1:
            raise ValueError(f'ViTPyramidNeck: the ViT maps must share one channel count, got {in_channels}')
        (c,) = channels
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(c, c, 2, 2),
            build_norm_layer(norm_cfg or dict(type='BN'), c)[1],
            nn.GELU(),
            nn.ConvTranspose2d(c, c, 2, 2),
        )
        self.fpn2 = nn.ConvTranspose2d(c, c, 2, 2)
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(2, 2)

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """Map one or four stride-16 NCHW maps to the four levels."""
        if len(inputs) not in (1, 4):
            raise ValueError(f'ViTPyramidNeck takes 1 or 4 maps, got {len(inputs)}')
        inputs = list(inputs) * (4 // len(inputs))
        return tuple(
            op(x) for op, x in zip((self.fpn1, self.fpn2, self.fpn3, self.fpn4), inputs, strict=True)
        )
