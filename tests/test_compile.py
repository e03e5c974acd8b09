"""torch.compile traces every backbone whole: no graph breaks, no recompiles for same-size batches.

Only TorchDynamo's tracing runs here (a counting backend, no code generation), which is
what decides graph breaks and recompiles; a graph without breaks also has no
``.item()``-style host-device synchronisation in the forward.
"""

from __future__ import annotations

import pytest
import torch
from conftest import BACKBONE_FACTORIES


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_one_graph_and_no_recompiles(factory) -> None:
    model = factory().eval()
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(torch.randn(1, 3, 96, 128))
    assert explanation.graph_break_count == 0, [str(r.reason) for r in explanation.break_reasons]

    torch._dynamo.reset()
    graphs = []

    def backend(graph: torch.fx.GraphModule, example_inputs: list) -> object:
        graphs.append(graph)
        return graph.forward

    compiled = torch.compile(model, backend=backend, dynamic=False)
    with torch.no_grad():
        for _ in range(3):  # new batches of the same size must reuse the graph
            compiled(torch.randn(2, 3, 96, 128))
    assert len(graphs) == 1
