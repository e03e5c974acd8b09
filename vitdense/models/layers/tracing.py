"""Which tracer is running: ``torch.export`` (ONNX) or ``torch.compile``."""

from __future__ import annotations

import torch


def is_exporting() -> bool:
    """Whether ``torch.export`` (non-strict, as :mod:`vitdense.deploy.onnx` runs it) is tracing.

    ``torch.compiler.is_exporting()`` alone cannot tell: TorchDynamo folds it to ``True`` under every
    ``torch.compile`` (torch 2.11, pytorch/pytorch#176347), so export-only rewrites would also run in
    compiled training. Non-strict export runs the Python code without TorchDynamo; under strict
    export (TorchDynamo again) this returns ``False``.
    """
    return torch.compiler.is_exporting() and not torch.compiler.is_dynamo_compiling()
