"""Non-overlapping patch embedding shared by the hierarchical backbones."""

from __future__ import annotations

from torch import Tensor, nn

from .window import pad_to_multiple


class PatchEmbed(nn.Module):
    """Split an image into non-overlapping patches and embed them.

    With ``pad`` the input is zero-padded on the right and bottom to a multiple
    of the patch size and the output grid is ``ceil(H / patch) x ceil(W / patch)``;
    without, the convolution drops the remainder (``floor``), as some upstream
    models do.

    Args:
        in_channels: Channels of the input image.
        embed_dims: Channels of the output tokens.
        patch_size: Side of a square patch (also the stride).
        norm: Whether a LayerNorm follows the projection.
        pad: Pad to a multiple of the patch size instead of cropping.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int = 4,
        norm: bool = True,
        pad: bool = True,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.pad = pad
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Embed ``x`` (B, C, H, W) into channels-last tokens (B, H', W', C')."""
        if self.pad:
            x = pad_to_multiple(x, self.patch_size, channels_last=False)
        x = self.proj(x).permute(0, 2, 3, 1)  # B, H', W', C'
        return self.norm(x)
