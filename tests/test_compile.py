"""torch.compile traces every backbone whole: no graph breaks, no recompiles for same-size batches.

Mostly TorchDynamo's tracing runs here (a counting backend, no code generation), which is
what decides graph breaks and recompiles; a graph without breaks also has no
``.item()``-style host-device synchronisation in the forward. One case runs inductor's CPU
code generation (it needs a C++ compiler), for a module whose tracing passes but whose
compilation failed.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from conftest import BACKBONE_FACTORIES, TINY_ARCHS, assert_trains_alike, recording_backend, traced

from vitdense.models.backbones import LITv2, SGFormer
from vitdense.models.layers import Stage


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """No compiled code or guards carried from one test into the next, failed or not."""
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_one_graph_and_no_recompiles(factory) -> None:
    model = factory().eval()
    compiled, graphs = traced(model, dynamic=False)
    with torch.no_grad():
        compiled(torch.randn(2, 3, 96, 128))
        if len(graphs) != 1:  # a graph break: name its reasons
            torch._dynamo.reset()
            explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 96, 128))
            pytest.fail(f'{len(graphs)} graphs: {[str(r.reason) for r in explanation.break_reasons]}')
        for _ in range(2):  # new batches of the same size must reuse the graph
            compiled(torch.randn(2, 3, 96, 128))
    assert len(graphs) == 1


#: By default a shallow SG-Former (two blocks per windowed stage: hybrid and self-guided), whose
#: windows, padding and token groups depend most on the size, and a tiny LITv2, whose HiLo windows pad
#: maps of odd size; the other backbones in the sweep, but timm's ViT and Swin, which specialise on
#: the input size as timm's own models do.
VARYING_SIZE_FACTORIES = [
    pytest.param(
        partial(SGFormer, arch=dict(TINY_ARCHS['SGFormer'], depths=(2, 2, 2, 1))), id='SGFormer-shallow'
    ),
    pytest.param(partial(LITv2, arch=TINY_ARCHS['LITv2']), id='LITv2-tiny'),
] + [
    pytest.param(*p.values, id=p.id, marks=pytest.mark.sweep)
    for p in BACKBONE_FACTORIES
    if p.id not in ('TimmPyramid-swin', 'TimmPyramid-vit')
]


@pytest.mark.parametrize('factory', VARYING_SIZE_FACTORIES)
def test_varying_sizes_compile_two_graphs(factory) -> None:
    """A detector's padded sizes: one static graph, then one symbolic graph for every other size.

    The sizes mix maps that need padding to the windows (SG-Former's 7, LITv2's 2 x 2 from an odd
    stage-3 side) and maps that do not (448 x 224), and change height and width independently; they
    stay above the size where PyTorch's CPU convolution changes backend (which would add a guard that
    CUDA does not have) and away from SpectFormer's pre-training grid (where its filters skip
    resampling: one more graph). The graphs are traced through AOT autograd (``aot_eager``) as
    inductor's are, so guards that tracing adds count too: a cropped view of a padded map guards
    there on whether the map was padded (its contiguity), which compiled one graph more for padded
    and unpadded widths.
    """
    model = factory().eval()
    compiled, graphs = traced(model, aot=True)
    with torch.no_grad():
        for size in [(320, 288), (352, 320), (288, 384), (448, 224), (336, 304)]:
            compiled(torch.randn(1, 3, *size))
    assert len(graphs) == 2


@pytest.mark.parametrize('factory', VARYING_SIZE_FACTORIES[:2])
def test_activation_checkpointing_compiles_in_one_graph_and_trains_as_eager(factory) -> None:
    """``with_cp=True`` under ``--compile`` (SG-Former's low-memory recipe with CUDA graphs): one graph.

    The checkpointed blocks are traced as regions to recompute in backward; AOT autograd partitions
    them as inductor does, and the outputs and every gradient equal eager's without checkpointing.
    """
    torch.manual_seed(0)
    plain = factory(drop_path_rate=0.0).train()
    ckpt = factory(drop_path_rate=0.0, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    compiled, graphs = traced(ckpt, aot=True)
    x = torch.randn(2, 3, 96, 128)
    outs = [plain(x), compiled(x)]
    assert len(graphs) == 1
    regions = [
        n for n in graphs[0].graph.nodes if n.target is torch.ops.higher_order.tag_activation_checkpoint
    ]
    blocks = sum(len(m.blocks) for m in ckpt.modules() if isinstance(m, Stage))
    assert blocks > 1 and len(regions) == blocks  # one region to recompute per block
    assert_trains_alike(plain, ckpt, *outs)


def test_compile_switch_compiles_in_place_and_keeps_checkpoint_keys(monkeypatch) -> None:
    """``--compile`` (``compile_modules``) compiles backbone and neck; state-dict keys and outputs stay."""
    from mmengine.config import Config

    from vitdense.utils.launch import COMPILED_MODULES, compile_modules, prepare_config

    calls = []
    monkeypatch.setattr(
        torch.nn.Module, 'compile', lambda self, **kw: calls.append((type(self).__name__, kw))
    )
    model = torch.nn.Module()
    model.backbone, model.neck, model.head = torch.nn.Linear(2, 2), torch.nn.Identity(), torch.nn.Linear(2, 1)
    keys = list(model.state_dict())
    assert compile_modules(model, COMPILED_MODULES) == ['backbone', 'neck']
    assert calls == [('Linear', {'options': None}), ('Identity', {'options': None})]
    assert list(model.state_dict()) == keys
    calls.clear()
    assert compile_modules(model, ['backbone'], cuda_graphs=True) == ['backbone']
    assert calls[0][1]['options'] == {'triton.cudagraphs': True}

    args = type(
        'Args',
        (),
        dict(
            local_rank=0,
            trust_checkpoint=None,
            config='',
            launcher='none',
            data_root=None,
            cfg_options=None,
            work_dir='w',
            compile=True,
        ),
    )()
    monkeypatch.setattr('vitdense.utils.launch.load_config', lambda path: Config(dict(model=dict(type='x'))))
    monkeypatch.setattr('vitdense.utils.launch.task_scope', lambda cfg: 'mmdet')
    cfg, _ = prepare_config(args)
    assert cfg.compile_modules == ['backbone', 'neck']


def test_compiled_backbone_has_one_symbolic_graph_once_sizes_change(monkeypatch) -> None:
    """``compile_modules`` marks height and width dynamic from the first change of the images' size.

    As a detector's landscape batches do, the width changes first and the height later; automatic
    dynamic shapes alone would compile a third graph when the height changes. A batch of the first
    size again reuses a graph.
    """
    from mmengine.model import BaseModel

    from vitdense.utils.launch import compile_modules

    class Backbone(torch.nn.Module):  # dynamo skips torch.nn's own containers as compiled frames
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.gelu(self.conv(x))

    class Detector(BaseModel):
        def __init__(self) -> None:
            super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor', pad_size_divisor=32))
            self.backbone = Backbone()

        def forward(
            self, inputs: torch.Tensor, data_samples: None = None, mode: str = 'tensor'
        ) -> torch.Tensor:
            return self.backbone(inputs)  # test_step: preprocessor, then this with its output

    backend, graphs = recording_backend()
    compile_ = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, 'compile', lambda self, options: compile_(self, backend=backend))
    model = Detector()
    assert compile_modules(model, ['backbone']) == ['backbone']
    with torch.no_grad():
        for h, w in [(64, 96), (64, 120), (64, 160), (90, 128), (64, 96), (150, 100)]:
            out = model.test_step({'inputs': [torch.randint(0, 255, (3, h, w), dtype=torch.uint8)]})
            assert out.shape[-2:] == (-(-h // 32) * 32, -(-w // 32) * 32)
    assert len(graphs) == 2


@pytest.mark.parametrize(
    ('config', 'key', 'expected'),
    [
        ('configs/imagenet/litv2_s_in1k.py', None, True),  # classification: on unless the config says no
        ('configs/imagenet/litv2_s_in1k.py', False, False),
        ('configs/upernet/litv2_s_160k_ade20k.py', None, False),  # dense tasks: off unless it asks
        ('configs/mask_rcnn/litv2_s_fpn_1x_coco.py', None, False),
        ('configs/upernet/litv2_s_160k_ade20k.py', True, True),
    ],
)
def test_cuda_graphs_for_classification_unless_the_config_says_otherwise(
    config: str, key: bool | None, expected: bool
) -> None:
    from vitdense.utils.launch import load_config, use_cuda_graphs

    cfg = load_config(config)
    if key is not None:
        cfg.compile_cudagraphs = key
    assert use_cuda_graphs(cfg) is expected


def test_cuda_graphs_key_must_be_a_bool() -> None:
    from mmengine.config import Config

    from vitdense.utils.launch import use_cuda_graphs

    with pytest.raises(TypeError, match='compile_cudagraphs'):
        use_cuda_graphs(Config(dict(compile_cudagraphs='yes')))
    with pytest.raises(TypeError, match='compile_cudagraphs'):
        use_cuda_graphs(Config(dict(compile_cudagraphs=None)))


class _LinearNet(torch.nn.Module):
    """Backbone, neck and head, each a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = (torch.nn.Linear(3, 3) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(x)))


@pytest.mark.parametrize('cuda_graphs', [False, True])
def test_with_cuda_graphs_each_call_of_the_model_begins_a_step_and_moves_accumulated_gradients(
    monkeypatch, cuda_graphs: bool
) -> None:
    """A call of the model (not of a compiled child) begins a CUDA-graph step; gradients still accumulate.

    Before the step begins, the compiled children's gradients that survived the last step are moved
    to new tensors (out of the graphs' memory); the head's, computed outside the graphs, stay.
    """
    from vitdense.utils.launch import COMPILED_MODULES, compile_modules

    steps = []
    monkeypatch.setattr(torch.compiler, 'cudagraph_mark_step_begin', lambda: steps.append(1))
    monkeypatch.setattr(torch.nn.Module, 'compile', lambda self, **kw: None)
    model, x = _LinearNet(), torch.randn(4, 3)
    compile_modules(model, COMPILED_MODULES, cuda_graphs=cuda_graphs)
    model(x).sum().backward()
    first = {name: p.grad for name, p in model.named_parameters()}
    once = {name: g.clone() for name, g in first.items()}
    model.backbone(x)
    assert len(steps) == int(cuda_graphs)
    model(x).sum().backward()
    assert len(steps) == 2 * int(cuda_graphs)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, 2 * once[name])
        moved = cuda_graphs and not name.startswith('head.')
        assert (p.grad is not first[name]) is moved, name


class _BackboneAndNeck(torch.nn.Module):
    """A backbone and a neck that reads its last map, compiled apart as ``--compile`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = LITv2(arch=TINY_ARCHS['LITv2'], drop_path_rate=0.0)
        self.neck = torch.nn.Conv2d(self.backbone.out_channels[-1], 8, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.backbone(x)
        return (*feats, self.neck(feats[-1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA graphs need a GPU')
def test_cuda_graphs_train_with_accumulated_gradients_and_predict_as_compiled_without() -> None:
    """Compiled with ``cuda_graphs``, a backbone and neck train and predict as compiled without.

    Mixed precision with a gradient scaler, BatchNorm's running statistics (buffers the graph
    mutates), gradients accumulated over two iterations (they must survive the next step's
    replay), then inference, where the neck reads the backbone's outputs; the replayed steps
    launch CUDA graphs.
    """
    from torch.profiler import ProfilerActivity, profile

    from vitdense.utils.launch import compile_modules

    torch.manual_seed(0)
    batches = [torch.randn(4, 3, 64, 96, device='cuda') for _ in range(6)]

    torch.manual_seed(0)
    start = _BackboneAndNeck()
    # token merging's offsets start at zero, and after one update they are tiny: sampling points
    # land a rounding error either side of a pixel, where bilinear sampling's gradient jumps, so
    # atomic adds' order would decide them. A quarter-pixel shift keeps them clear of that.
    with torch.no_grad():
        for name, p in start.backbone.named_parameters():
            if name.endswith('conv_offset.bias'):
                p.fill_(0.25)
    initial = {k: v.cuda() for k, v in start.state_dict().items()}

    def run(cuda_graphs: bool) -> tuple[list[float], dict, list[torch.Tensor], int]:
        torch._dynamo.reset()
        model = _BackboneAndNeck().cuda().train()
        model.load_state_dict(initial)
        compile_modules(model, ['backbone', 'neck'], cuda_graphs=cuda_graphs)
        # SGD: an update proportional to the gradient, so atomics' rounding (grid_sample's
        # backward) stays rounding; Adam would blow it up in elements whose gradient is near zero
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = torch.amp.GradScaler('cuda')
        losses = []
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i, x in enumerate(batches):
                with torch.autocast('cuda', dtype=torch.float16):
                    loss = sum(f.float().square().mean() for f in model(x))
                scaler.scale(loss).backward()
                losses.append(loss.item())
                if i % 2:  # two iterations per optimizer step
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
            model.eval()
            with torch.no_grad():
                # a call's outputs are read before the next call, which begins a new step
                predictions = [f.clone() for x in batches[:3] for f in model(x)]
        launches = sum(e.count for e in prof.key_averages() if e.key == 'cudaGraphLaunch')
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return losses, state, predictions, launches

    losses, state, predictions, launches = run(cuda_graphs=False)
    graph_losses, graph_state, graph_predictions, graph_launches = run(cuda_graphs=True)
    assert launches == 0 and graph_launches > 0
    # the losses of iterations 2-5 follow the accumulated updates
    torch.testing.assert_close(graph_losses, losses, rtol=1e-4, atol=0)
    # Atomic adds (grid_sample's backward) leave the gradients' rounding to the order of the adds, and
    # the updates carry it into single weights: two H200 runs without CUDA graphs differed by up to
    # 7.9e-5 in one element of patch_embed's weight. So each tensor is compared as a whole, against
    # how far training moved it, of which an update lost or doubled would be a sizeable part. A
    # tensor whose true gradient is zero (a bias right before a normalisation, such as token
    # merging's convolution bias) moves by rounding alone: on an H200 one moved 1.4e-5 and the two
    # runs differed by 2.7e-6 there. The floor, 1e-4 of the tensor's own norm, covers that rounding
    # and is smaller than what the SGD updates move the other tensors; a lost or doubled update
    # also changes the losses above.
    mismatched = []
    for key, value in state.items():
        if not value.is_floating_point():  # BatchNorm's num_batches_tracked
            assert torch.equal(graph_state[key], value), key
            continue
        moved = (value - initial[key]).norm()
        differ = (graph_state[key] - value).norm()
        if differ > 0.05 * moved + 1e-4 * value.norm():
            mismatched.append(f'{key}: differ {differ:.3g}, moved {moved:.3g}, norm {value.norm():.3g}')
    assert not mismatched, mismatched
    for graph_prediction, prediction in zip(graph_predictions, predictions, strict=True):
        assert (graph_prediction - prediction).norm() <= 1e-2 * prediction.norm()


def test_inductor_refuses_a_tiling_with_a_bare_cant_split_after_the_mend() -> None:
    """torch 2.11 raises ``CantSplit`` without its two required arguments while trying tilings.

    Unmended, that ``raise`` is a TypeError ending a ``--compile`` run; mended, the refusal is the
    ``CantSplit`` that inductor's ``is_compatible`` catches.
    """
    simd = pytest.importorskip('torch._inductor.codegen.simd')
    from vitdense.utils.launch import mend_inductor

    mend_inductor()
    with pytest.raises(simd.CantSplit):
        raise simd.CantSplit


def _inductor_has_a_cpp_compiler() -> bool:
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _inductor_has_a_cpp_compiler(), reason="inductor's CPU code needs a C++ compiler")
def test_spectral_gating_compiles_with_inductor_and_equals_eager() -> None:
    """Inductor itself (not only dynamo's tracing) compiles SpectFormer's filter, forward and backward.

    torch's FFT path does not compile (complex64 in inductor, fake-tensor strides of the FFT on the
    CPU); under compile the filter takes its matrix-product form, equal to the eager FFT.
    """
    from vitdense.models.backbones.spectformer import SpectralGating

    torch.manual_seed(0)
    gating = SpectralGating(8, (14, 8))
    x = torch.randn(2, 13, 15, 8, requires_grad=True)
    reference = gating(x)
    grads = torch.autograd.grad(reference.square().sum(), (x, gating.complex_weight))
    compiled = torch.compile(gating, backend='inductor', dynamic=False, fullgraph=True)
    out = compiled(x)
    compiled_grads = torch.autograd.grad(out.square().sum(), (x, gating.complex_weight))
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    for compiled_grad, grad in zip(compiled_grads, grads, strict=True):  # the input's, the filter's
        torch.testing.assert_close(compiled_grad, grad, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(
    not (_inductor_has_a_cpp_compiler() and torch.backends.mkldnn.is_available()),
    reason="the failure needs inductor's CPU code and its oneDNN channels-last layout",
)
def test_conv_ffn_trains_compiled_with_symbolic_sizes_after_the_mend() -> None:
    """A ConvFFN compiled by CPU inductor with symbolic sizes trains, and equals eager.

    torch 2.11's inductor fails to order the symbolic strides of the channels-last view saved for
    the depth-wise convolution's backward (pytorch#185510); ``mend_inductor`` gives it the shape
    environment. Without the mend (and a cache of a mended run) the first call raises ``cannot
    determine truth value of Relational``.
    """
    from torch._inductor.utils import fresh_cache

    from vitdense.models.layers import ConvFFN
    from vitdense.utils.launch import mend_inductor

    mend_inductor()
    torch.manual_seed(0)
    ffn = ConvFFN(8, 16)
    compiled = torch.compile(ffn, backend='inductor', dynamic=True, fullgraph=True)
    with fresh_cache():  # lowered in this test, not read from an earlier run's cache
        for size in [(6, 10), (7, 9)]:  # one symbolic graph for both
            x = torch.randn(2, *size, 8, requires_grad=True)
            out = compiled(x)
            grads = torch.autograd.grad(out.square().sum(), (x, *ffn.parameters()))
            reference = ffn(x)
            expected = torch.autograd.grad(reference.square().sum(), (x, *ffn.parameters()))
            torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
            for grad, grad_expected in zip(grads, expected, strict=True):
                torch.testing.assert_close(grad, grad_expected, atol=1e-4, rtol=1e-4)


def test_is_exporting_is_true_under_torch_export_only() -> None:
    """Export-only rewrites (LIT's written-out biased attention) stay out of compiled training."""
    from vitdense.models.layers import is_exporting

    class Flag(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + float(is_exporting())

    x = torch.zeros(1)
    assert Flag()(x).item() == 0.0
    assert torch.compile(Flag(), backend='eager')(x).item() == 0.0
    assert torch.export.export(Flag(), (x,), strict=False).module()(x).item() == 1.0


def test_compiled_biased_attention_keeps_sdpa_and_export_writes_it_out() -> None:
    """LIT's relative-position bias: SDPA in compiled training, the written-out form only for export."""
    from vitdense.models.layers import GlobalAttention

    class Biased(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = GlobalAttention(8, 2)
            self.bias = torch.nn.Parameter(torch.randn(2, 5, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, self.bias)

    model, x = Biased().eval(), torch.randn(1, 5, 8)
    compiled, graphs = traced(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    called = {str(n.target) for n in graphs[0].graph.nodes if n.op == 'call_function'}
    assert any('scaled_dot_product_attention' in c for c in called)
    exported = torch.export.export(model, (x,), strict=False).graph
    assert not any('scaled_dot_product' in str(n.target) for n in exported.nodes)
