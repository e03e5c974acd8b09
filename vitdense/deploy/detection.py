"""mmdet's test-time detection post-processing in operators that ``torch.export`` and ONNX carry.

mmdet 3.3 computes boxes with mmcv's NMS and RoIAlign kernels and Python-side shape logic, none of
which exports. The functions here follow mmdet's code step by step (each names the mmdet function it
stands for) and give its boxes, scores and labels:

* NMS is ``torchvision.ops.nms`` (ONNX ``NonMaxSuppression``) on boxes shifted apart by group, as
  mmcv's ``batched_nms`` does for fewer than 10,000 boxes (for more it runs one NMS per class on the
  unshifted boxes: the same selection up to float32 rounding of the shifted coordinates).
* RoIAlign is ``torchvision.ops.roi_align`` (ONNX ``RoiAlign``), the same bilinear sampling as mmcv's
  kernel; every RoI is pooled from every level and the level mmdet's ``map_roi_levels`` picks is kept.
* The score threshold and the box-size filter come after NMS, not before: NMS visits boxes by
  falling score, so boxes under the threshold (or without area) never suppress one above it, and the
  boxes kept are the same.

The graph works on one image (batch 1), clips boxes to ``image_size`` (the image's height and
width inside the padded input, mmdet's ``img_shape``) and returns boxes in the input's pixels.
Rescaling to the original image and pasting Mask R-CNN's 28 x 28 masks into it stay outside
(:func:`vitdense.deploy.onnx.detector_predict` runs mmdet's own code for them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import nms, roi_align


def unsupported(model: nn.Module) -> list[str]:
    """What of an mmdet detector these functions do not compute as mmdet does (empty: it exports)."""
    problems = []
    heads = [('rpn_head', model.rpn_head), ('roi_head', model.roi_head)] if hasattr(model, 'rpn_head') else []
    heads = heads or [('bbox_head', getattr(model, 'bbox_head', None))]
    known = {'RetinaHead', 'AnchorHead', 'RPNHead', 'StandardRoIHead'}
    for name, head in heads:
        if type(head).__name__ not in known:
            problems.append(f'{name} is a {type(head).__name__}; exportable: {sorted(known)}')
            continue
        cfg = head.test_cfg
        nms_cfg = cfg.get('nms', {})
        if nms_cfg.get('type', 'nms') != 'nms' or nms_cfg.get('class_agnostic', False):
            problems.append(f'{name}: test_cfg nms {nms_cfg} (only plain per-class nms exports)')
        if cfg.get('min_bbox_size', -1) > 0:  # mmdet compares rescaled boxes with it
            problems.append(f'{name}: test_cfg min_bbox_size > 0 (the graph does not rescale boxes)')
    roi_head = getattr(model, 'roi_head', None)
    if roi_head is not None and type(roi_head).__name__ == 'StandardRoIHead':
        box = roi_head.bbox_head
        if getattr(box, 'custom_cls_channels', False) or box.reg_class_agnostic:
            problems.append('roi_head.bbox_head: only class-specific boxes with softmax scores export')
        extractors = [roi_head.bbox_roi_extractor] + (
            [roi_head.mask_roi_extractor] if roi_head.with_mask else []
        )
        if any(getattr(layer, 'pool_mode', 'avg') != 'avg' for e in extractors for layer in e.roi_layers):
            problems.append('roi_head: only average RoIAlign exports')
    return problems


def nms_iou(cfg: dict) -> float:
    """The IoU threshold of a test config's ``nms``."""
    return float(cfg['nms']['iou_threshold'])


def batched_nms_keep(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """Indices mmcv's ``batched_nms`` keeps, by falling score: NMS within each group only."""
    offsets = groups.to(boxes) * (boxes.max() + 1)  # N
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def clip_boxes(boxes: Tensor, image_size: Tensor) -> Tensor:
    """Clamp (N, 4) x1 y1 x2 y2 boxes to [0, w] and [0, h] (``image_size`` is (h, w))."""
    h, w = image_size.to(boxes).unbind(0)
    return torch.minimum(boxes.clamp(min=0), torch.stack([w, h, w, h]))


def decode(coder: nn.Module, priors: Tensor, deltas: Tensor, image_size: Tensor) -> Tensor:
    """The ``bbox_coder.decode`` of mmdet, with its border clipping done against a tensor size."""
    boxes = coder.decode(priors, deltas)  # N, 4 * K
    if getattr(coder, 'clip_border', True):
        boxes = clip_boxes(boxes.reshape(-1, 4), image_size).reshape(boxes.shape)
    return boxes


def _with_area(boxes: Tensor, min_size: float) -> Tensor:
    """Boxes wider and taller than ``min_size`` (mmdet's ``min_bbox_size`` filter)."""
    return (boxes[:, 2] - boxes[:, 0] > min_size) & (boxes[:, 3] - boxes[:, 1] > min_size)


def _min_bbox_size(cfg: dict) -> float | None:
    """The test config's box-size filter: None (off) or 0 (boxes with area; larger is unsupported)."""
    return None if cfg.get('min_bbox_size', -1) < 0 else 0.0


def dense_head_detections(
    head: nn.Module, cls_scores: list[Tensor], bbox_preds: list[Tensor], image_size: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """A one-stage anchor head's detections: mmdet's ``BaseDenseHead.predict_by_feat`` for one image.

    Args:
        head: The head (RetinaNet's), with ``test_cfg``, ``prior_generator`` and ``bbox_coder``.
        cls_scores: Per level (1, A * C, h, w) class maps.
        bbox_preds: Per level (1, A * 4, h, w) box deltas.
        image_size: (2,) int64 height and width of the image in the input.

    Returns:
        (N, 4) boxes in the input's pixels, (N,) scores and (N,) int64 labels, by falling score.
    """
    cfg = head.test_cfg
    iou, min_size = nms_iou(cfg), _min_bbox_size(cfg)
    priors = head.prior_generator.grid_priors(
        [s.shape[-2:] for s in cls_scores], dtype=cls_scores[0].dtype, device=cls_scores[0].device
    )
    nms_pre = cfg.get('nms_pre', -1)
    boxes, scores, labels = [], [], []
    for cls_score, bbox_pred, prior in zip(cls_scores, bbox_preds, priors, strict=True):
        logits = cls_score[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)  # h w A, C
        level = logits.sigmoid() if head.use_sigmoid_cls else logits.softmax(-1)[:, :-1]
        classes = level.shape[1]
        level = level.reshape(-1)  # (h w A C): mmdet's filter_scores_and_topk ranks (anchor, class) pairs
        if nms_pre > 0:
            level, index = level.topk(min(nms_pre, level.shape[0]))
        else:
            index = torch.arange(level.shape[0], device=level.device)
        anchor = torch.div(index, classes, rounding_mode='floor')
        deltas = bbox_pred[0].permute(1, 2, 0).reshape(-1, head.bbox_coder.encode_size)[anchor]
        boxes.append(decode(head.bbox_coder, prior[anchor], deltas, image_size))
        scores.append(level)
        labels.append(index - anchor * classes)
    boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
    keep = batched_nms_keep(boxes, scores, labels, iou)
    valid = scores > cfg.get('score_thr', 0.0)
    if min_size is not None:
        valid &= _with_area(boxes, min_size)
    keep = keep[valid[keep]][: cfg.get('max_per_img', 100)]  # NMS order: by falling score
    return boxes[keep], scores[keep], labels[keep]


def rpn_proposals(
    head: nn.Module, cls_scores: list[Tensor], bbox_preds: list[Tensor], image_size: Tensor
) -> tuple[Tensor, Tensor]:
    """An RPN head's proposals for one image: mmdet's ``RPNHead.predict_by_feat``.

    Returns:
        (N, 4) boxes and their (N,) objectness, by falling objectness. N is ``max_per_img`` (or all
        boxes when fewer): slots past mmdet's proposals hold objectness -1 (:func:`rcnn_detections`
        ignores them).
    """
    cfg = head.test_cfg
    iou, min_size = nms_iou(cfg), _min_bbox_size(cfg)
    priors = head.prior_generator.grid_priors(
        [s.shape[-2:] for s in cls_scores], dtype=cls_scores[0].dtype, device=cls_scores[0].device
    )
    boxes, scores, levels = [], [], []
    for i, (cls_score, bbox_pred, prior) in enumerate(zip(cls_scores, bbox_preds, priors, strict=True)):
        logits = cls_score[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)
        level = logits.sigmoid()[:, 0] if head.use_sigmoid_cls else logits.softmax(-1)[:, 0]
        deltas = bbox_pred[0].permute(1, 2, 0).reshape(-1, head.bbox_coder.encode_size)
        if cfg.nms_pre > 0:
            level, index = level.topk(min(cfg.nms_pre, level.shape[0]))
            deltas, prior = deltas[index], prior[index]
        boxes.append(decode(head.bbox_coder, prior, deltas, image_size))
        scores.append(level)
        levels.append(torch.full_like(level, i, dtype=torch.long))
    boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
    kept = torch.zeros_like(scores, dtype=torch.bool).index_fill(
        0, batched_nms_keep(boxes, scores, levels, iou), True
    )
    if min_size is not None:
        kept &= _with_area(boxes, min_size)
    # the first max_per_img kept boxes by falling score; a fixed count (the rest of the slots hold boxes
    # that NMS removed, their objectness -1) keeps the RoI stage's shapes known when exporting
    objectness, index = torch.where(kept, scores, -1.0).topk(min(cfg.max_per_img, scores.shape[0]))
    return boxes[index], objectness


def roi_features(extractor: nn.Module, feats: tuple[Tensor, ...], rois: Tensor) -> Tensor:
    """Features of mmdet's ``SingleRoIExtractor``: each RoI pooled from the level its size maps to.

    Args:
        extractor: The extractor (its mmcv ``RoIAlign`` layers give size, scale and sampling).
        feats: The neck's maps.
        rois: (N, 5) batch index, x1, y1, x2, y2.

    Returns:
        (N, C, s, s) pooled features.
    """
    levels = extractor.map_roi_levels(rois, extractor.num_inputs)  # N
    pooled = None
    for i, layer in enumerate(extractor.roi_layers):
        level = roi_align(
            feats[i], rois, layer.output_size, layer.spatial_scale, layer.sampling_ratio, layer.aligned
        )
        chosen = (levels == i)[:, None, None, None]
        pooled = level * chosen if pooled is None else torch.where(chosen, level, pooled)
    return pooled


def rcnn_detections(
    roi_head: nn.Module, feats: tuple[Tensor, ...], proposals: Tensor, objectness: Tensor, image_size: Tensor
) -> tuple[Tensor, ...]:
    """Mask R-CNN's / Faster R-CNN's RoI stage for one image: mmdet's ``StandardRoIHead.predict``.

    Returns:
        (N, 4) boxes, (N,) scores, (N,) labels and, with a mask head, (N, s, s) mask probabilities
        of each box's class (mmdet's mask head pastes them into the image).
    """
    bbox_head, cfg = roi_head.bbox_head, roi_head.test_cfg
    iou = nms_iou(cfg)
    rois = torch.cat([proposals.new_zeros(proposals.shape[0], 1), proposals], dim=1)  # N, 5
    cls_score, bbox_pred = bbox_head(roi_features(roi_head.bbox_roi_extractor, feats, rois))
    classes = bbox_head.num_classes
    scores = cls_score.softmax(-1)[:, :classes] * (objectness >= 0)[:, None]  # N, C: no empty slots
    scores = scores.reshape(-1)  # N C
    priors = proposals.repeat_interleave(classes, dim=0)  # N C, 4
    boxes = decode(bbox_head.bbox_coder, priors, bbox_pred.reshape(-1, 4), image_size)
    labels = torch.arange(classes, device=scores.device).repeat(proposals.shape[0])
    candidates = (scores > cfg.score_thr).nonzero()[:, 0]  # mmdet's multiclass_nms filters first
    boxes, scores, labels = boxes[candidates], scores[candidates], labels[candidates]
    keep = batched_nms_keep(boxes, scores, labels, iou)[: cfg.max_per_img]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if not roi_head.with_mask:
        return boxes, scores, labels
    mask_rois = torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)
    masks = roi_head.mask_head(roi_features(roi_head.mask_roi_extractor, feats, mask_rois))
    if not roi_head.mask_head.class_agnostic:
        masks = masks.gather(1, labels[:, None, None, None].expand(-1, 1, *masks.shape[2:]))
    return boxes, scores, labels, masks[:, 0].sigmoid()
