"""Models and target functions as the report describes them: each architecture in words, its per-layer summary and
depth (computed from the model), and the formula of each target function. Text only: none of it enters a key."""
from __future__ import annotations

import torch
from torch import nn

from hw1core import models

DESCRIPTIONS = {
    "MLP-deep": "1-5-10-10-10-10-10-5-1, LeakyReLU",
    "MLP-middle": "1-10-18-15-4-1, LeakyReLU",
    "MLP-shallow": "1-190-1, LeakyReLU",
    "MLP-deep-r": "1-1-5-10-10-10-10-10-5-1, LeakyReLU",
    "MLP-middle-r": "1-1-10-18-15-4-1, LeakyReLU",
    "MLP-shallow-r": "1-1-190-1, LeakyReLU",
    "CNN-shallow": "conv 3→16 (no padding), pool → linear 3600→10",
    "CNN-deep": "conv 3→16→32→64→32→16, pools → linear 16→10",
    "CNN-wide": "conv 3→32→64, pools → 4096→100→10",
    "MNIST-CNN-1": "conv k4 1→10→20 → 320→50 (dropout 0.25)→100→10",
    "MNIST-CNN-2": "conv k4 1→10→20 → 320→50→50→40→30→10",
    "MNIST-CNN-3": "conv k5 1→10→15 → 240→84→10",
    "MLP-minratio": "1-16-16-1, LeakyReLU (small enough for an exact Hessian)",
    "MLP-random-labels": "32×32 input, 1024→128→128→10, ReLU",
}
FORMULAS = {"f1": "sin(5πx)/(5πx)", "f2": "sgn(sin(5πx))"}  # the target functions of hw1core.data.FUNCTIONS


def description(name: str) -> str:
    """An architecture in a few words: its widths and the kind of layers."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    widths = models.PARAM_COUNT_WIDTHS[int(name.split("-")[1])]
    return f"conv 3→{'→'.join(map(str, widths))}, pools → linear {widths[-1]}→10"


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
