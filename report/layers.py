"""Architectures as the report describes them: readable per-layer summaries and depth, computed from the models."""
from __future__ import annotations

import torch
from torch import nn

from hw1core import models

LAYER_PREFIX = {nn.Conv2d: "conv", nn.Linear: "fc"}  # layers are named conv1, conv2, ..., fc1, fc2, ... in order


def depth(name: str) -> int:
    """The number of layers with weights (dense or convolutional)."""
    return sum(1 for m in models.build(name).modules() if isinstance(m, tuple(LAYER_PREFIX)))


def layer_summary(name: str) -> list[dict]:
    """One row per layer with parameters: a readable name (conv1, fc2, ...), its type, output shape (from a dummy
    forward) and count."""
    model = models.build(name).eval()
    shapes: dict[nn.Module, tuple] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.__setitem__(m, tuple(o.shape[1:])))
             for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, *models.ARCHS[name].input_shape))
    for h in hooks:
        h.remove()
    rows: list[dict] = []
    counts: dict[str, int] = {}
    for module in model.modules():
        n = sum(p.numel() for p in module.parameters(recurse=False))
        if n:
            prefix = LAYER_PREFIX.get(type(module), type(module).__name__.lower())
            counts[prefix] = counts.get(prefix, 0) + 1
            rows.append({"layer": f"{prefix}{counts[prefix]}", "type": type(module).__name__,
                         "weight": "×".join(str(d) for d in module.get_parameter("weight").shape),
                         "output": "×".join(map(str, shapes[module])), "params": n})
    return rows
