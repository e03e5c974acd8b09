"""Shared logic of ``tools/train.py`` and ``tools/test.py``.

One pair of tools serves detection, segmentation and classification: the config's
``default_scope`` (``mmdet``, ``mmseg`` or ``mmpretrain``) decides which task library runs.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
from collections.abc import Iterator, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.hub import get_config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .checkpoint_io import TRUST_HELP, trust_from_args

SYNTHETIC_HINT = {
    'CocoDataset': 'python tools/misc/make_synthetic_data.py coco {root}',
    'ADE20KDataset': 'python tools/misc/make_synthetic_data.py ade20k {root}',
    'ImageNet': 'python tools/misc/make_synthetic_data.py imagenet {root}',
}
#: The task libraries the tools serve (a config's ``default_scope``).
TASK_SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def load_config(path: str) -> Config:
    """Read a config file; ``mmdet::path`` / ``mmseg::path`` name a package's own config."""
    if '::' in path:
        return get_config(path)
    return Config.fromfile(path)


def task_scope(cfg: Config) -> str:
    """The task library of a config: ``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``."""
    scope = cfg.get('default_scope')
    if scope not in TASK_SCOPES:
        raise ValueError(f'config default_scope must be one of {TASK_SCOPES}, got {scope!r}')
    return scope


def _datasets(cfg: ConfigDict) -> Iterator[ConfigDict]:
    """The leaf dataset configs under a dataset config (unwrapping Repeat/Concat)."""
    if 'dataset' in cfg:
        yield from _datasets(cfg.dataset)
    elif 'datasets' in cfg:
        for sub in cfg.datasets:
            yield from _datasets(sub)
    else:
        yield cfg


def check_datasets(cfg: Config, loaders: tuple[str, ...]) -> None:
    """Fail early, naming the path, when a data set of the given loaders is missing.

    Args:
        cfg: The full config.
        loaders: Names such as ``('train_dataloader', 'val_dataloader')``.

    Raises:
        FileNotFoundError: Naming the missing path and the command that writes
            a synthetic set in its place.
    """
    for loader in loaders:
        if not cfg.get(loader):
            continue
        for dataset in _datasets(cfg[loader].dataset):
            root = dataset.get('data_root') or ''
            paths = []
            if dataset.get('ann_file'):
                paths.append(osp.join(root, dataset.ann_file))
            prefixes = dataset.get('data_prefix') or {}
            for prefix in prefixes.values() if isinstance(prefixes, dict) else [prefixes]:
                paths.append(osp.join(root, prefix))
            if dataset.get('split'):  # mmpretrain's ImageNet: <root>/<split> (and meta/<split>.txt)
                paths.append(osp.join(root, dataset.split))
            for path in paths:
                if not osp.exists(path):
                    hint = SYNTHETIC_HINT.get(dataset.get('type'), '')
                    hint = (
                        f'\nTo try the pipeline on synthetic data: {hint.format(root=root)}' if hint else ''
                    )
                    raise FileNotFoundError(
                        f'{loader}: data set path {path!r} does not exist '
                        f'(data_root={root!r}). Prepare the data set there or point the config at it '
                        f'with --cfg-options {loader}.dataset.data_root=...{hint}'
                    )


def redirect_data_root(cfg: Config, root: str) -> None:
    """Point every data loader and evaluator of ``cfg`` at the data set in ``root``.

    Evaluator ``ann_file`` paths under the old ``data_root`` move with it (mmdet's
    COCO configs compute them from ``data_root`` when they are parsed).
    """
    root = root if root.endswith('/') else root + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not cfg.get(loader):
            continue
        for dataset in _datasets(cfg[loader].dataset):
            old = dataset.get('data_root')
            dataset.data_root = root
            for evaluator in (cfg.get('val_evaluator'), cfg.get('test_evaluator')):
                for item in evaluator if isinstance(evaluator, list) else [evaluator]:
                    ann_file = item.get('ann_file') if item else None
                    if old and ann_file and ann_file.startswith(old):
                        item.ann_file = osp.join(root, ann_file[len(old) :].lstrip('/'))


def apply_amp(cfg: Config, amp: bool) -> None:
    """Turn on AMP with ``--amp``; fall back to fp32 (with a warning) without a GPU.

    mmengine's ``AmpOptimWrapper`` refuses to run on CPU; the configs ask for
    AMP because the published protocols train with it.
    """
    wrapper = cfg.optim_wrapper
    if amp and wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    if wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        print_log('no CUDA device: AmpOptimWrapper replaced by OptimWrapper (fp32)', 'current', 30)
        wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            wrapper.pop(key, None)


def default_work_dir(config: str) -> str:
    """``./work_dirs/<config name>``, as mmdet and mmseg do."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The arguments ``tools/train.py`` and ``tools/test.py`` share (the config comes first)."""
    parser.add_argument('config', help='config file (or mmdet::/mmseg:: package config)')
    parser.add_argument('--work-dir', help='where logs (and checkpoints) go')
    parser.add_argument('--data-root', help='use the data set in this folder (e.g. a synthetic one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: a.b=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--trust-checkpoint', action='append', metavar='FILE_OR_URL', help=TRUST_HELP)
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the backbone and neck (config key compile_modules; see build_runner)',
    )


def prepare_config(args: argparse.Namespace) -> tuple[Config, str]:
    """Load the config and apply the common arguments; returns it and its task scope."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    trust_from_args(args.trust_checkpoint)
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.data_root:
        redirect_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.compile:
        cfg.compile_modules = list(COMPILED_MODULES)
    scope = task_scope(cfg)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    return cfg, scope


#: What ``--compile`` compiles: the network's dense part, whose inputs are whole images.
COMPILED_MODULES = ('backbone', 'neck')


def mend_inductor() -> None:
    """Mend two torch 2.11 inductor bugs that end ``--compile`` runs (see the two helpers)."""
    _mend_bare_cant_split()
    _mend_symbolic_stride_order()


def _mend_bare_cant_split() -> None:
    """Let torch's inductor refuse a tiling as it means to, where its ``CantSplit`` cannot be raised bare.

    torch 2.11's tiling analysis raises ``CantSplit`` without arguments on one path (3-D tilings of
    a fused matmul and pointwise kernel) although the exception requires two, so the refusal it
    would catch becomes a TypeError that ends the run (seen compiling LITv2-S Mask R-CNN's
    evaluation graph after its training graphs). Defaulting the two arguments restores the
    intended refusal; turning the analysis off instead also avoids the crash but gives slower
    kernels. A torch whose ``CantSplit`` takes no required arguments is left alone. (One caller,
    the tiling analysis of static shapes, asserts after catching it; not seen reached.)
    """
    try:
        from torch._inductor.codegen.simd import CantSplit
    except ImportError:
        return
    init = CantSplit.__init__
    if init.__code__.co_varnames[1:3] == ('expr', 'remaining') and not init.__defaults__:
        init.__defaults__ = (None, None)


def _mend_symbolic_stride_order() -> None:
    """Let inductor order a graph output's symbolic strides with the graph's shape environment.

    On the CPU (and XPU), inductor lays convolutions out channels-last with oneDNN (mkldnn) even at
    symbolic sizes, and torch 2.11 then orders the channels-last strides of a view that leaves the
    graph (the NCHW view of a ConvFFN's hidden map, saved for its depth-wise convolution's backward)
    with ``ir.get_stride_order(strides)``, without the shape environment: the strides are compared
    as bare sympy expressions and the compile fails with ``TypeError: cannot determine truth value
    of Relational`` (pytorch#185510, open). Seen training the ConvFFN alone and LITv2 (SpectFormer
    and SG-Former use the same ConvFFN) compiled with symbolic sizes: a detector's second padded
    size under ``--compile`` on the CPU. CUDA turns that layout off at symbolic sizes, so GPU runs
    do not take this path. With the shape environment, inductor's ``argsort_sym`` decides each
    comparison from the sizes' ranges (symbolic sizes are at least 2), which orders these strides
    without guards; one the ranges cannot decide is taken from the hints and guarded, and the guard
    joins the compiled frame's. The wrapper stays harmless once torch passes the environment itself;
    a torch whose ``get_stride_order`` has another signature is left alone. The patch lives in this
    process: inductor's cache key does not see it, nor does lowering in a subprocess.
    """
    import inspect

    from torch._inductor import ir
    from torch._inductor.virtualized import V

    original = ir.get_stride_order
    if getattr(original, 'mended_by_vitdense', False):
        return
    if list(inspect.signature(original).parameters) != ['seq', 'shape_env']:
        return

    def get_stride_order(seq: Sequence, shape_env: object = None) -> Sequence[int]:
        if shape_env is None and hasattr(V.graph, 'sizevars'):  # inside a graph's lowering
            shape_env = V.graph.sizevars.shape_env
        return original(seq, shape_env)

    get_stride_order.mended_by_vitdense = True
    ir.get_stride_order = get_stride_order


class _MarkSizesDynamicOnChange:
    """Forward hook of a data preprocessor: once its images' size changes, mark height and width dynamic.

    torch's automatic dynamic shapes make a dimension symbolic when it changes, one at a time: a
    detector's landscape batches keep height 800 while their width varies, so the compiled backbone
    gets a graph for the first size, one with a symbolic width, and a third once the height changes
    too. Marking both from the first change onward (``maybe_mark_dynamic``, which lets a guard
    specialise them again) saves that third compile. Data whose size never changes (224-pixel
    classification) stays static. Training on fixed crops is marked once validation has seen other
    sizes; its static graph still serves it, as weakly marked sizes add no guards.
    """

    def __init__(self) -> None:
        self.first: tuple[int, int] | None = None
        self.varying = False

    def __call__(self, module: torch.nn.Module, args: tuple, output: object) -> None:
        inputs = output.get('inputs') if isinstance(output, dict) else None
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:  # B, C, H, W
            return
        size = (inputs.shape[2], inputs.shape[3])
        if self.first is None:
            self.first = size
        self.varying = self.varying or size != self.first
        if self.varying:
            torch._dynamo.maybe_mark_dynamic(inputs, [2, 3])


#: inductor's options for replaying each compiled graph as a CUDA graph (``mode='reduce-overhead'``).
CUDA_GRAPH_OPTIONS = {'triton.cudagraphs': True}
#: What ``build_runner``'s log line adds when the compiled modules replay CUDA graphs (``train_speed.py``
#: reads it from a training log).
CUDA_GRAPHS_LOGGED = 'replaying CUDA graphs'


def compile_options(cuda_graphs: bool) -> dict | None:
    """Inductor's options for ``torch.compile``: ``CUDA_GRAPH_OPTIONS`` (a copy) or its defaults (None)."""
    return dict(CUDA_GRAPH_OPTIONS) if cuda_graphs else None


#: Task libraries whose ``--compile`` replays CUDA graphs unless the config says otherwise: their
#: training batches all have one size (ImageNet's 224 crops) and validation a few batch sizes.
CUDA_GRAPH_SCOPES = ('mmpretrain',)


def use_cuda_graphs(cfg: Config) -> bool:
    """Whether ``--compile`` replays CUDA graphs: the config's ``compile_cudagraphs``, else by task.

    Replaying the compiled backbone's and neck's kernels as CUDA graphs removes the CPU cost of
    launching them one by one. A graph is recorded once per input size, so it pays at fixed sizes:
    classification (``CUDA_GRAPH_SCOPES``) replays them by default. Detection's training sizes vary.
    Segmentation stays off: its training crops are fixed (UperNet LITv2-S trained in 0.80x the time
    with them in one H200 run), but evaluation records a graph for each distinct image size, untimed
    on a real validation set.

    Args:
        cfg: The config.

    Returns:
        The value of ``compile_cudagraphs`` where the config has the key, else whether its task
        (``task_scope``) is one of ``CUDA_GRAPH_SCOPES``.

    Raises:
        TypeError: If ``compile_cudagraphs`` is not a bool.
        ValueError: If the config has no such key and no task ``default_scope`` (``task_scope``).
    """
    if 'compile_cudagraphs' not in cfg:
        return task_scope(cfg) in CUDA_GRAPH_SCOPES
    value = cfg.compile_cudagraphs
    if not isinstance(value, bool):
        raise TypeError(f'compile_cudagraphs must be True or False, got {value!r}')
    return value


class _CudaGraphStep:
    """Forward pre-hook of a model whose children replay CUDA graphs: each call of the model is one step.

    Inductor's CUDA graph trees keep the outputs of a step's graphs until the next step begins, and
    without being told they guess where it begins: at a compiled module's call when no backward is
    pending. In inference that is every compiled child, so the neck's call frees the backbone's
    outputs it is reading (torch raises "accessing tensor output of CUDAGraphs that has been
    overwritten"). The hook begins the step at the model's call instead, for training, validation
    and testing alike. Gradients are outputs of the graphs too: the first backward's become the
    parameters' ``.grad``, which the next step would overwrite, so gradients accumulated over steps
    (``accumulative_counts``) would be lost. Before a new step begins, the hook moves the gradients
    that survived the last one out of the graphs' memory; optimizers that set gradients to None
    leave nothing to move.

    Once told, torch's trees no longer guess, for the rest of the process (until
    ``torch._dynamo.reset()``): a compiled child called on its own, outside a call of the model, stays
    in the current step, and while its earlier outputs are alive each call records another graph. Two
    calls of the model before one backward (a loss over two forward passes) are two steps, and the
    first one's outputs are gone by the backward: torch raises. A head compiled with the others would
    have its outputs overwritten by the next call, as in test-time augmentation.

    Args:
        params: The compiled children's parameters.
    """

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        self.params = params

    def __call__(self, module: torch.nn.Module, args: tuple) -> None:
        for p in self.params:
            if p.grad is not None:
                p.grad = p.grad.clone()
        torch.compiler.cudagraph_mark_step_begin()


def compile_modules(model: torch.nn.Module, names: Sequence[str], cuda_graphs: bool = False) -> list[str]:
    """``torch.compile`` the named children of ``model`` in place (their state-dict keys stay).

    Shapes are static for the first input size. From the first batch of another size on, the model's
    data preprocessor marks the images' height and width dynamic (``_MarkSizesDynamicOnChange``), so
    the backbone's next graph has both sizes symbolic. More graphs come from the neck, whose sizes
    turn symbolic one at a time (torch's automatic dynamic shapes), and from guards on symbolic
    sizes: the parity of the coarsest map in mmdet's FPN (its stride-2 extra level) and, seen in one
    H200 run, inductor's size thresholds for fusing reductions. Past dynamo's ``recompile_limit``
    (8 by default) a module runs eagerly at sizes no graph covers.

    Args:
        model: The model whose children are compiled.
        names: The children to compile; those the model lacks are skipped.
        cuda_graphs: Replay each graph inductor compiles for CUDA as a CUDA graph (inductor's CUDA
            graph trees, ``CUDA_GRAPH_OPTIONS``): one launch instead of one per kernel, one recording
            per input size (see ``use_cuda_graphs``). CPU graphs run as without it. Each call of
            ``model`` begins a step (``_CudaGraphStep``): its outputs stay readable until the next
            call, and gradients accumulate over calls as without CUDA graphs; calling a compiled
            child on its own does not begin one (see ``_CudaGraphStep`` for what that implies).

    Returns:
        The names compiled (those the model has).
    """
    mend_inductor()
    options = compile_options(cuda_graphs)
    compiled = []
    for name in names:
        module = getattr(model, name, None)
        if isinstance(module, torch.nn.Module):
            module.compile(options=options)
            compiled.append(name)
    if compiled and cuda_graphs:
        params = [p for name in compiled for p in getattr(model, name).parameters()]
        model.register_forward_pre_hook(_CudaGraphStep(params))
    preprocessor = getattr(model, 'data_preprocessor', None)
    if compiled and isinstance(preprocessor, torch.nn.Module):
        preprocessor.register_forward_hook(_MarkSizesDynamicOnChange())
    return compiled


def build_runner(cfg: Config) -> Runner:
    """The config's own runner type if it names one, else mmengine's ``Runner``.

    With ``compile_modules`` in the config (``--compile``), those children of the model are compiled,
    replaying CUDA graphs where ``use_cuda_graphs`` says so and the model is on a GPU (mmengine puts
    it on one when there is one).
    """
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if cfg.get('compile_modules'):
        model = getattr(runner.model, 'module', runner.model)  # inside DistributedDataParallel
        cuda_graphs = use_cuda_graphs(cfg) and any(p.is_cuda for p in model.parameters())
        names = compile_modules(model, cfg.compile_modules, cuda_graphs)
        how = f', {CUDA_GRAPHS_LOGGED}' if cuda_graphs and names else ''
        print_log(f'torch.compile: {", ".join(names) or "nothing"} of {type(model).__name__}{how}', 'current')
    return runner
