"""Token labeling's model side, as the hierarchical SpectFormer trains with it.

Jiang et al., "All Tokens Matter: Token Labeling for Training Better Vision Transformers",
NeurIPS 2021 (zihangJiang/TokenLabeling ``tlt/data/mixup.py``), in badripatro/SpectFormers
``hierarchical_architecture`` (``spectformer.py``'s ``return_dense`` / ``mix_token`` forward and
``loss/cross_entropy.py``'s ``TokenLabelCrossEntropy``):

- targets: each image's top-5 label map (see :mod:`vitdense.datasets.token_label`) is scattered to
  a dense (classes, 18, 18) map of logits, the crop the image was cut with is pooled out of it with
  ``roi_align``, once to the token grid (a target per token) and once to 1 x 1 (the crop's target),
  and softmax over the classes gives the soft labels, label-smoothed;
- MixToken: in training, a random box of the token grid (area ``1 - lam``, ``lam ~ Beta(1, 1)``) of
  every image's stem features is replaced by the next-to-flipped batch element's (``x.flip(0)``),
  the class target mixed by ``lam``, and the tokens of the box swapped back before their loss;
- loss: soft-target cross-entropy of the class token against the crop's target, plus 0.5 times the
  mean over tokens of each token's against its own; prediction: the class logits plus 0.5 times
  each class's largest token logit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from mmengine.registry import MODELS
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn
from torchvision.ops import roi_align

from ..datasets.token_label import token_label_tensor
from .classifiers import UpstreamImageClassifier


def token_label_targets(
    label_maps: Tensor,
    crops: Tensor,
    num_classes: int,
    grid: Sequence[int],
    smoothing: float,
    upstream_crop_axes: bool = True,
) -> tuple[Tensor, Tensor]:
    """Soft targets of the crops and of their tokens (tlt's ``mixup_target`` with ``lam=1``).

    Args:
        label_maps: (B, 2, K, h, w) top-K logits ``[:, 0]`` and class indices ``[:, 1]``.
        crops: (B, 4) each crop's (top, left, bottom, right) as shares of its image.
        num_classes: Classes.
        grid: (rows, cols) of the token grid.
        smoothing: Label smoothing, as upstream: ``t * (1 - smoothing + off) + off`` with
            ``off = smoothing / num_classes`` (each target sums to ``1 + off``).
        upstream_crop_axes: Pool the crop as upstream does (tlt, after naver-ai/relabel_imagenet):
            its (top, left, bottom, right) go into ``roi_align``'s (x1, y1, x2, y2), so the pooled
            box is the crop mirrored about the map's diagonal. ``False`` pools the crop itself.

    Returns:
        The crops' targets (B, classes) and the tokens' (B, rows * cols, classes), row-major.
    """
    batch, _, _, _, width = label_maps.shape
    maps = label_maps.float()
    dense = maps.new_zeros(batch, num_classes, *maps.shape[-2:])
    dense.scatter_(1, maps[:, 1].long(), maps[:, 0])  # B, classes, h, w
    crops = crops.to(dense) if upstream_crop_axes else crops.to(dense)[:, [1, 0, 3, 2]]  # x1, y1, x2, y2
    index = torch.arange(batch, dtype=dense.dtype, device=dense.device)[:, None]
    boxes = torch.cat([index, crops * width - 0.5], dim=1)  # scaled by the width, as upstream
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    whole = roi_align(dense, boxes, output_size=(1, 1)).flatten(1)  # B, classes
    tokens = roi_align(dense, boxes, output_size=tuple(grid)).flatten(2)  # B, classes, N
    return whole.softmax(1) * on + off, tokens.softmax(1).transpose(1, 2) * on + off


@MODELS.register_module()
class TokenLabelClsHead(ClsHead):
    """A linear head on the class token and an auxiliary one on every token, trained on token labels.

    Args:
        num_classes: Classes.
        in_channels: Channels of the class token and the tokens.
        loss: Loss of the class logits against the crop's soft target (default: soft cross-entropy).
        aux_loss: Loss of each token's logits against its own soft target (default: soft
            cross-entropy weighted 0.5, as upstream).
        smoothing: Label smoothing of both targets.
        aux_eval_weight: Weight of the tokens' largest logits in the prediction.
        upstream_crop_axes: Pool each crop's targets as upstream does (see
            :func:`token_label_targets`); ``False`` pools the crop itself.
        topk: Top-k accuracies reported in evaluation.
        init_cfg: mmengine initialisation (default: truncated normal linear layers).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        loss: dict | None = None,
        aux_loss: dict | None = None,
        smoothing: float = 0.1,
        aux_eval_weight: float = 0.5,
        upstream_crop_axes: bool = True,
        topk: int | tuple[int, ...] = (1, 5),
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(
            loss=loss or dict(type='CrossEntropyLoss', use_soft=True, loss_weight=1.0),
            topk=topk,
            init_cfg=init_cfg or dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
        )
        aux_loss = aux_loss or dict(type='CrossEntropyLoss', use_soft=True, loss_weight=0.5)
        self.num_classes = num_classes
        self.smoothing = smoothing
        self.aux_eval_weight = aux_eval_weight
        self.upstream_crop_axes = upstream_crop_axes
        self.aux_loss_module = (
            aux_loss if isinstance(aux_loss, nn.Module) else PRETRAIN_MODELS.build(aux_loss)
        )
        self.fc = nn.Linear(in_channels, num_classes)
        self.aux_fc = nn.Linear(in_channels, num_classes)

    def pre_logits(self, feats: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """The class token (B, C) and the tokens (B, h, w, C) as they come."""
        return feats

    def forward(self, feats: tuple[Tensor, Tensor]) -> Tensor:
        """Prediction logits (B, classes): the class token's plus the weighted largest token logits."""
        cls_token, tokens = feats
        return self.fc(cls_token) + self.aux_eval_weight * self.aux_fc(tokens.flatten(1, 2)).amax(dim=1)

    def loss(
        self, feats: tuple[Tensor, Tensor], data_samples: list[DataSample], mix_lam: float = 1.0
    ) -> dict:
        """Token-labeling losses.

        Args:
            feats: The class token (B, C) and the tokens (B, h, w, C), un-mixed.
            data_samples: With ``token_label`` (the map) and ``token_label_crop``.
            mix_lam: Share of each image left unmixed by MixToken (1: no mixing).

        Returns:
            ``loss_cls`` and ``loss_token``, each already weighted.
        """
        cls_token, tokens = feats
        if not all('token_label' in s and 'token_label_crop' in s for s in data_samples):
            raise KeyError(
                'TokenLabelClsHead: the data samples carry no token labels; train on a TokenLabelImageNet '
                'with LoadTokenLabel ... RandomResizedCropWithCoords and '
                "PackInputs(algorithm_keys=('token_label', 'token_label_crop'))"
            )
        maps = torch.stack([_as_tensor(s.token_label, token_label_tensor) for s in data_samples])
        crops = torch.stack([_as_tensor(s.token_label_crop, torch.from_numpy) for s in data_samples])
        cls_target, token_target = token_label_targets(
            maps.to(cls_token.device),
            crops,
            self.num_classes,
            tokens.shape[1:3],
            self.smoothing,
            self.upstream_crop_axes,
        )
        if mix_lam < 1.0:
            cls_target = mix_lam * cls_target + (1.0 - mix_lam) * cls_target.flip(0)
        logits = self.fc(cls_token)  # B, classes
        token_logits = self.aux_fc(tokens.flatten(1, 2)).flatten(0, 1)  # B * N, classes
        return dict(
            loss_cls=self.loss_module(logits, cls_target, avg_factor=logits.shape[0]),
            loss_token=self.aux_loss_module(
                token_logits, token_target.flatten(0, 1), avg_factor=token_logits.shape[0]
            ),
        )


def _as_tensor(value: Any, convert: Any) -> Tensor:
    return value if isinstance(value, Tensor) else convert(value)


def mix_token_box(rows: int, cols: int, beta: float = 1.0) -> tuple[int, int, int, int]:
    """Upstream's ``rand_bbox`` on a (rows, cols) token grid: (r1, c1, r2, c2), about ``1 - lam`` of it."""
    lam = np.random.beta(beta, beta)
    cut = np.sqrt(1.0 - lam)
    cut_r, cut_c = int(rows * cut), int(cols * cut)
    centre_r, centre_c = np.random.randint(rows), np.random.randint(cols)
    r1, r2 = np.clip([centre_r - cut_r // 2, centre_r + cut_r // 2], 0, rows)
    c1, c2 = np.clip([centre_c - cut_c // 2, centre_c + cut_c // 2], 0, cols)
    return int(r1), int(c1), int(r2), int(c2)


@MODELS.register_module()
class TokenLabelClassifier(UpstreamImageClassifier):
    """An image classifier trained with token labeling (MixToken and a per-token head).

    The backbone gives the class token and its last stage's tokens from its stem's output
    (``patch_embed`` and ``forward_class_tokens``, e.g. ``SpectFormer(out_type='cls_token')``);
    the head is a :class:`TokenLabelClsHead`. Upstream's files load as they are (``aux_head``
    to ``head.aux_fc``).

    Args:
        *args: ``ImageClassifier``'s.
        mix_token: Mix a random box of the stem's features across the batch in training.
        mix_beta: ``lam ~ Beta(mix_beta, mix_beta)``.
        **kwargs: ``ImageClassifier``'s.
    """

    upstream_head_keys: ClassVar[dict[str, str]] = {'head.': 'head.fc.', 'aux_head.': 'head.aux_fc.'}

    def __init__(self, *args: Any, mix_token: bool = True, mix_beta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.with_neck or not all(
            hasattr(self.backbone, a) for a in ('patch_embed', 'forward_class_tokens')
        ):
            raise TypeError(
                'TokenLabelClassifier: needs no neck and a backbone that gives its class token and tokens '
                f"(e.g. SpectFormer(out_type='cls_token')); got {type(self.backbone).__name__}"
            )
        specs = self.backbone.stage_specs
        self.token_stride = specs[-1].stride // specs[0].stride  # stem cells per last-stage token
        self.mix_multiple = specs[-1].stride  # pixels per last-stage token
        self.mix_token = mix_token
        self.mix_beta = mix_beta

    def extract_feat(self, inputs: Tensor, stage: str = 'neck') -> tuple[Tensor, Tensor]:
        """The class token (B, C) and the last stage's tokens (B, h, w, C)."""
        return self.backbone.forward_class_tokens(self.backbone.patch_embed(inputs))

    def loss(self, inputs: Tensor, data_samples: list[DataSample]) -> dict:
        """Token-labeling losses of a batch, MixToken applied (upstream's training forward)."""
        stem = self.backbone.patch_embed(inputs)  # B, H, W, C
        if not self.mix_token:
            return self.head.loss(self.backbone.forward_class_tokens(stem), data_samples)
        height, width = stem.shape[1:3]
        s = self.token_stride
        if height % s or width % s:
            raise ValueError(
                f'TokenLabelClassifier: MixToken needs image sides that are multiples of {self.mix_multiple} '
                f'pixels; got {inputs.shape[-2]} x {inputs.shape[-1]}'
            )
        r1, c1, r2, c2 = mix_token_box(height // s, width // s, self.mix_beta)
        box = torch.zeros(height // s, width // s, dtype=torch.bool, device=stem.device)
        box[r1:r2, c1:c2] = True
        stem_box = box.repeat_interleave(s, 0).repeat_interleave(s, 1)[None, :, :, None]
        cls_token, tokens = self.backbone.forward_class_tokens(torch.where(stem_box, stem.flip(0), stem))
        tokens = torch.where(box[None, :, :, None], tokens.flip(0), tokens)  # each token back to its image
        mix_lam = 1.0 - (r2 - r1) * (c2 - c1) / box.numel()
        return self.head.loss((cls_token, tokens), data_samples, mix_lam=mix_lam)
