"""ONNX export: every backbone with static and dynamic sizes, the export tool on whole models."""

from __future__ import annotations

import importlib.util
import os.path as osp
import re

import onnx
import pytest
import torch
from conftest import ALL_BACKBONES, TINY_ARCHS
from mmengine.registry import MODELS

import vitdense  # noqa: F401
from vitdense.deploy.onnx import (
    DetectorModel,
    ExportError,
    FeatureModel,
    check_onnx,
    check_requirements,
    detector_predict,
    export_onnx,
)
from vitdense.models.backbones.spectformer import SpectralGating
from vitdense.utils.analysis import build_model, dummy_batch, set_reference

pytest.importorskip('onnxruntime')
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _backbone(name: str) -> torch.nn.Module:
    kind = name.split('-')[0]
    extra = dict(cb='cbs', out_indices=(0, 1, 2, 3)) if kind == 'CBViT' else {}
    torch.manual_seed(0)
    model = MODELS.build(dict(type=kind, arch=TINY_ARCHS[name], init_cfg=None, **extra)).eval()
    for p in model.parameters():  # away from the zero-initialised offsets and scales
        p.data.add_(torch.randn_like(p) * 0.02)
    return FeatureModel(model)


@pytest.mark.parametrize(
    'name',
    # LITv2's dynamic export runs by default in the Semantic FPN tool test below
    [pytest.param(n, marks=pytest.mark.sweep) if n == 'LITv2' else n for n in sorted(TINY_ARCHS)],
)
def test_backbone_exports_with_dynamic_sizes_and_matches_in_onnxruntime(name: str, tmp_path) -> None:
    module = _backbone(name)
    path = str(tmp_path / 'backbone.onnx')
    size = (128, 160) if name == 'SGFormer' else (64, 96)  # SG-Former: windows of 7 from stage 1 on
    info = export_onnx(module, torch.randn(1, 3, *size), path, dynamic=True, optimize=name != 'SGFormer')
    assert max(info['min_hw']) <= min(size)
    for shape in [size, (97, 131), (128, 72)]:  # the export size, odd sizes, another aspect
        x = torch.randn(1, 3, *shape)
        assert check_onnx(path, module, x, tolerance=1e-4)['difference'] < 1e-2


@pytest.mark.slow
@pytest.mark.parametrize(
    'factory',
    [
        pytest.param(p.values[0], id=p.id, marks=pytest.mark.sweep)
        for p in ALL_BACKBONES
        if 'Timm' not in p.id or p.id == 'TimmPyramid-vit'  # timm's Swin fixes its windows at export
    ],
)
def test_every_backbone_size_exports_with_dynamic_sizes(factory, tmp_path) -> None:
    torch.manual_seed(0)
    module = FeatureModel(factory(out_indices=(0, 1, 2, 3), init_cfg=None).eval())
    sgformer = 'SGFormer' in str(factory)
    size = (128, 160) if sgformer else (64, 96)
    path = str(tmp_path / 'backbone.onnx')
    export_onnx(module, torch.randn(1, 3, *size), path, dynamic=True, optimize=not sgformer)
    for shape in [size, (97, 131)]:
        result = check_onnx(path, module, torch.randn(1, 3, *shape), tolerance=1e-4)
        # SG-Former sorts tokens by significance: where float32 rounding reorders near ties, check_onnx
        # judges ONNX Runtime against float64 and PyTorch's spread under rounding-sized input changes
        assert result['difference'] < 1e-2 or (
            sgformer
            and (
                result['difference_to_float64'] <= 2 * result['float32_error'] + 1e-4
                or result['difference'] <= 2 * result['rounding_spread'] + 1e-4
            )
        ), result


class _Ranks(torch.nn.Module):
    """Each value's rank, as a float: discontinuous where values nearly tie (as SG-Former's sort)."""

    reorders_near_ties = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).argsort(dim=1).argsort(dim=1).to(x.dtype) + x.flatten(1)


def test_check_onnx_tells_a_reordered_near_tie_from_a_wrong_export(monkeypatch) -> None:
    """A runtime whose rounding reorders near ties passes; the same error elsewhere fails."""
    from vitdense.deploy import onnx as deploy

    # near ties: distinct values, in the same order in float32 and float64
    ties = 1 + 2**-20 * torch.arange(8.0).view(1, 8)
    apart = torch.arange(8.0).view(1, 8)  # no input change of rounding size reorders these
    unflagged = _Ranks()
    unflagged.reorders_near_ties = False  # a model that does not declare it sorts gets the tolerance only
    cases = [
        (_Ranks(), ties, None),
        (_Ranks(), apart, 'PyTorch moves by at most'),
        (unflagged, ties, 'over the tolerance'),
        (torch.nn.Linear(8, 8), ties, 'over the tolerance'),
    ]
    for module, x, error in cases:
        with torch.no_grad():
            reference = module(x).numpy()
        shifted = reference + 0.1 * abs(reference).max()  # as far off as reordering two ties
        monkeypatch.setattr(deploy, 'run_onnx', lambda path, x, out=shifted: [out])
        if error is None:
            result = check_onnx('file.onnx', module, x)
            assert result['float32_error'] < 1e-6 < result['difference'] <= 2 * result['rounding_spread']
        else:
            with pytest.raises(ExportError, match=error):
                check_onnx('file.onnx', module, x)


def test_static_export_of_a_spectformer_keeps_the_fft(tmp_path) -> None:
    import onnx

    module = _backbone('SpectFormer')
    path = str(tmp_path / 'static.onnx')
    export_onnx(module, torch.randn(1, 3, 64, 64), path)
    assert 'DFT' in {n.op_type for n in onnx.load(path).graph.node}
    assert check_onnx(path, module, torch.randn(1, 3, 64, 64))['difference'] < 1e-4


@pytest.mark.parametrize('shape', [(14, 14), (13, 17), (7, 8), (1, 1), (2, 3)])
def test_spectral_filter_as_matrix_products_equals_the_fft(shape) -> None:
    torch.manual_seed(0)
    gating = SpectralGating(8, (14, 14))
    x = torch.randn(2, *shape, 8)
    reference = gating(x)
    gating.dft_as_matmul = True
    torch.testing.assert_close(gating(x), reference, atol=1e-6, rtol=1e-5)


def test_token_merging_exports_by_sampling_and_torchvision_needs_opset_19(tmp_path) -> None:
    """The default path is GridSample + Conv (opset >= 16); the reference operator is DeformConv (19).

    A file of another opset than the one asked for is refused (torch converts down from 18 and only
    warns where it cannot).
    """
    model = _backbone('LITv2')
    x = torch.randn(1, 3, 64, 64)
    path = str(tmp_path / 'x.onnx')
    with pytest.raises(ExportError, match='could not convert it to opset 16'):
        export_onnx(model, x, path, opset=16)  # LayerNormalization: 17
    export_onnx(model, x, path, opset=17)
    graph = onnx.load(path)
    assert [o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx')] == [17]
    ops = {node.op_type for node in graph.graph.node}
    assert 'GridSample' in ops and 'DeformConv' not in ops
    assert check_onnx(path, model, x)['difference'] < 1e-4
    set_reference(model, True)
    with pytest.raises(ExportError, match='DeformConv.*opset >= 19'):
        export_onnx(model, x, path, opset=18)
    with pytest.raises(ExportError, match='GridSample.*opset >= 16'):
        export_onnx(_backbone('LIT-pvt'), x, path, opset=15)


def test_a_missing_onnx_package_names_the_install_command(monkeypatch) -> None:
    import vitdense.deploy.onnx as deploy

    monkeypatch.setitem(deploy.REQUIREMENTS, 'onnxscript', '999.0')
    with pytest.raises(ImportError, match=r'onnxscript .* older than 999.0.*pip install -e \.\[deploy\]'):
        check_requirements()


def test_an_operator_without_onnx_form_is_named(tmp_path) -> None:
    class Odd(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.special.i1e(x)  # no ONNX translation

    with pytest.raises(ExportError, match='i1e'):
        export_onnx(Odd(), torch.randn(1, 3, 8, 8), str(tmp_path / 'x.onnx'))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'export_onnx', osp.join(ROOT, 'tools/deployment/export_onnx.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_exports_a_classifier_and_checks_it(tmp_path, capsys) -> None:
    out = str(tmp_path / 'cls.onnx')
    config = osp.join(ROOT, 'configs/imagenet/litv2_s_in1k.py')
    assert _tool().main([config, '--shape', '64', '64', '--out', out]) == 0
    printed = capsys.readouterr().out
    assert 'ONNX Runtime vs PyTorch' in printed and osp.isfile(out)


DETECTORS = {
    'retinanet': 'configs/retinanet/litv2_s_fpn_1x_coco.py',
    'mask_rcnn': 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py',
}


def scored_detector(config: str, spread: float = 2.0, shift: float = 0.0) -> tuple:
    """A detector whose class scores spread (random heads score every box alike): (cfg, model)."""
    cfg, model = build_model(osp.join(ROOT, config))
    model.eval()
    torch.manual_seed(0)
    layer = model.bbox_head.retina_cls if hasattr(model, 'bbox_head') else model.roi_head.bbox_head.fc_cls
    torch.nn.init.normal_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    x, samples = dummy_batch(cfg, (96, 128))
    with torch.no_grad():
        if hasattr(model, 'bbox_head'):
            logits = torch.cat([c.flatten() for c in model.bbox_head(model.extract_feat(x))[0]])
        else:
            feats = model.extract_feat(x)
            rois = torch.tensor([[0.0, 8, 8, 60, 50], [0, 30, 20, 120, 90]])
            roi_feats = model.roi_head.bbox_roi_extractor(feats[:4], rois)
            logits = model.roi_head.bbox_head(roi_feats)[0]
    layer.weight.data *= spread / logits.std()
    layer.bias.data += shift
    return cfg, model


@pytest.mark.parametrize(
    'name, shift, size',
    [('retinanet', -10.0, (90, 125)), ('retinanet', 0.0, (64, 64)), ('mask_rcnn', 0.0, (90, 125))],
)
def test_exportable_detector_predicts_what_mmdet_predicts(name, shift, size) -> None:
    cfg, model = scored_detector(DETECTORS[name], shift=shift)
    wrapper = DetectorModel(model)
    inputs, samples = dummy_batch(cfg, size)  # padded to 32: boxes clip to the image inside
    with torch.no_grad():
        (expected,) = model.predict(inputs, [s.clone() for s in samples])
        outputs = wrapper(inputs, DetectorModel.image_size(samples[0]))
    (got,) = detector_predict(wrapper, outputs, [s.clone() for s in samples])
    a, b = got.pred_instances, expected.pred_instances
    assert 0 < len(b) and (len(b) < 100) == (shift < 0)  # the score threshold cuts, or max_per_img
    assert torch.equal(a.labels, b.labels) and torch.equal(a.scores, b.scores)
    torch.testing.assert_close(a.bboxes, b.bboxes, rtol=0, atol=1e-4)
    assert float(b.bboxes[:, 2].max()) <= size[1] and float(b.bboxes[:, 3].max()) <= size[0]
    if name == 'mask_rcnn':
        assert torch.equal(a.masks, b.masks) and a.masks.any()


def test_a_detector_head_without_exportable_form_is_refused() -> None:
    _, model = build_model(osp.join(ROOT, DETECTORS['retinanet']))
    model.bbox_head.test_cfg.nms = dict(type='soft_nms', iou_threshold=0.5)
    with pytest.raises(ExportError, match='soft_nms.*--part neck'):
        DetectorModel(model)


@pytest.mark.slow
@pytest.mark.parametrize(
    'config, args',
    [
        ('configs/sem_fpn/litv2_s_fpn_80k_ade20k.py', ['--shape', '128', '160', '--dynamic']),
        pytest.param(
            'configs/upernet/litv2_s_160k_ade20k.py', ['--shape', '128', '128'], marks=pytest.mark.sweep
        ),
        pytest.param('retinanet', ['--shape', '122', '160'], marks=pytest.mark.sweep),
        pytest.param('retinanet', ['--shape', '128', '160', '--dynamic'], marks=pytest.mark.sweep),
        ('mask_rcnn', ['--shape', '128', '160']),
        pytest.param('mask_rcnn', ['--shape', '128', '160', '--dynamic'], marks=pytest.mark.sweep),
        pytest.param(
            'configs/mask_rcnn/litv2_s_fpn_1x_coco.py',
            ['--part', 'neck', '--shape', '128', '160', '--dynamic'],
            marks=pytest.mark.sweep,
        ),
    ],
)
def test_tool_exports_segmentors_and_detectors_end_to_end(config, args, tmp_path, capsys) -> None:
    out = str(tmp_path / 'model.onnx')
    if config in DETECTORS:  # trained-like scores, so that there are detections to compare
        checkpoint = str(tmp_path / 'detector.pth')
        torch.save({'state_dict': scored_detector(DETECTORS[config])[1].state_dict()}, checkpoint)
        args, config = [*args, '--checkpoint', checkpoint], DETECTORS[config]
    assert _tool().main([osp.join(ROOT, config), *args, '--out', out]) == 0
    printed = capsys.readouterr().out
    assert osp.isfile(out)
    if '--part' in args or 'sem_fpn' in config or 'upernet' in config:
        assert 'ONNX Runtime vs PyTorch' in printed
    else:
        counts = [int(n) for n in re.findall(r'(\d+) detections match PyTorch', printed)]
        assert counts and min(counts) > 0, printed
