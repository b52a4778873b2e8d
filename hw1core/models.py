"""Every architecture of the report, by name, with exact per-layer parameter summaries."""
from __future__ import annotations

import functools

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


def mlp(widths: list[int], act: Callable[[], nn.Module] = nn.LeakyReLU) -> nn.Sequential:
    """Dense layers between consecutive widths, an activation after every layer but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def function_mlp(widths: list[int]) -> nn.Sequential:
    """An MLP for the 1-D function fits: He-initialised weights for LeakyReLU, PyTorch's default biases.

    PyTorch's default weight init (variance 1/(3·fan_in)) shrinks the signal at every layer: a network of 8 narrow
    layers starts with an output that varies by ~1e-5 over x, and some seeds never leave the mean of the target.
    He init keeps the signal's scale through depth. The biases keep nn.Linear's draw, uniform in ±1/√fan_in: a first
    layer unit's kink sits at x = −b/w, spread over the input range, where zero biases would put every kink of the
    network at x = 0 (see `zero_biases`).
    """
    model = mlp(widths)
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, a=0.01, nonlinearity="leaky_relu")
    return model


def zero_biases(params: dict[str, torch.Tensor]) -> None:
    """Set every bias of a (stacked) parameter dict to zero, in place, before training: then f(cx) = c·f(x) at the
    start, two linear pieces joined at x = 0, and each kink must be moved by its own bias before it can bend
    anywhere else."""
    with torch.no_grad():
        for name, value in params.items():
            if name.endswith("bias"):
                value.zero_()


def conv_stack(widths: list[int], in_ch: int = 3, padding: int = 1) -> list[nn.Module]:
    """3x3 convolutions, each followed by 2x2 max-pooling and ReLU.

    Pooling first is the same function as ReLU first (both are monotone, so they commute; the gradients agree too)
    and runs the ReLU on a quarter of the values: on a CPU, ReLU and pooling on the full-size maps took 57 % of a
    CNN-shallow training step. Parameter names (the Sequential's indices) are those of the ReLU-first order.
    """
    layers: list[nn.Module] = []
    for c_in, c_out in zip([in_ch] + widths[:-1], widths):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=padding), nn.MaxPool2d(2), nn.ReLU()]
    return layers


def cifar_cnn(widths: list[int]) -> nn.Sequential:
    """The param-count CNN family: conv widths with padding 1 down to 1x1, then one linear layer."""
    return nn.Sequential(*conv_stack(widths), nn.Flatten(), nn.Linear(widths[-1], 10))


def mnist_convs(k: int, c1: int, c2: int) -> list[nn.Module]:
    return [nn.Conv2d(1, c1, k), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(c1, c2, k), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten()]  # pooling before ReLU, as in conv_stack


# The param-count family: model number -> conv widths (one shape, eleven sizes from 11k to 425k parameters).
PARAM_COUNT_WIDTHS = {
    21: [8, 10, 20, 25, 16], 22: [16, 10, 20, 25, 16], 23: [16, 10, 32, 20, 16], 24: [16, 25, 20, 25, 16],
    25: [16, 64, 20, 24, 16], 26: [16, 128, 20, 30, 16], 27: [16, 128, 20, 64, 16], 28: [16, 128, 20, 100, 16],
    29: [16, 128, 20, 128, 16], 30: [16, 128, 32, 128, 32], 31: [16, 256, 128, 64, 32],
}


@dataclass(frozen=True)
class Arch:
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one example, no batch dimension


ARCHS: dict[str, Arch] = {
    # The course's own example models, and variants of them with one more 1→1 layer in front (the "-r" models).
    "MLP-deep": Arch(lambda: function_mlp([1, 5, 10, 10, 10, 10, 10, 5, 1]), (1,)),
    "MLP-middle": Arch(lambda: function_mlp([1, 10, 18, 15, 4, 1]), (1,)),
    "MLP-shallow": Arch(lambda: function_mlp([1, 190, 1]), (1,)),
    "MLP-deep-r": Arch(lambda: function_mlp([1, 1, 5, 10, 10, 10, 10, 10, 5, 1]), (1,)),
    "MLP-middle-r": Arch(lambda: function_mlp([1, 1, 10, 18, 15, 4, 1]), (1,)),
    "MLP-shallow-r": Arch(lambda: function_mlp([1, 1, 190, 1]), (1,)),
    "CNN-shallow": Arch(lambda: nn.Sequential(*conv_stack([16], padding=0), nn.Flatten(), nn.Linear(16 * 15 * 15, 10)),
                        (3, 32, 32)),
    "CNN-deep": Arch(lambda: cifar_cnn([16, 32, 64, 32, 16]), (3, 32, 32)),
    "CNN-wide": Arch(lambda: nn.Sequential(*conv_stack([32, 64]), nn.Flatten(), nn.Linear(4096, 100), nn.ReLU(),
                                           nn.Linear(100, 10)), (3, 32, 32)),
    "MNIST-CNN-1": Arch(lambda: nn.Sequential(*mnist_convs(4, 10, 20), nn.Linear(320, 50), nn.ReLU(), nn.Dropout(0.25),
                                              nn.Linear(50, 100), nn.ReLU(), nn.Linear(100, 10)),
                        (1, 28, 28)),
    "MNIST-CNN-2": Arch(lambda: nn.Sequential(*mnist_convs(4, 10, 20), mlp([320, 50, 50, 40, 30, 10], nn.ReLU)),
                        (1, 28, 28)),
    "MNIST-CNN-3": Arch(lambda: nn.Sequential(*mnist_convs(5, 10, 15), mlp([240, 84, 10], nn.ReLU)),
                        (1, 28, 28)),
    "MLP-minratio": Arch(lambda: mlp([1, 16, 16, 1]), (1,)),
    "MLP-random-labels": Arch(lambda: nn.Sequential(nn.Flatten(), mlp([1024, 128, 128, 10], nn.ReLU)),
                              (1, 32, 32)),
}
for _n, _w in PARAM_COUNT_WIDTHS.items():
    ARCHS[f"CNN-{_n}"] = Arch(functools.partial(cifar_cnn, _w), (3, 32, 32))


def build(name: str) -> nn.Module:
    return ARCHS[name].build()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_count_of(name: str) -> int:
    """The parameters of architecture `name`."""
    return param_count(build(name))
