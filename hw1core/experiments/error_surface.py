"""Compute stage. HW1-2 bonus error surface: the loss around a trained minimum, along filter-normalised random
directions and in the plane of the optimisation path's top-2 PCA directions."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from .. import analysis, data, engine
from ..context import Part, RunContext
from ..results import Dims
from ..rules import (CIFAR, MAX_ALPHA, MAX_IMAGES, architectures, both, count, holds, odd_between, one_of,
                     positive_to, weights_of)
from ..settings import setting, settings

ID = "error-surface"


@settings
class Config:
    model: str = setting("CNN-shallow", one_of(architectures(CIFAR)))
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=25, batch_size=64, lr=4e-4, weight_decay=1e-4),
                                        quick=dict(epochs=3))
    n_train: int = setting(0, count(MAX_IMAGES, low=0), quick=3000)  # training images (0 = all 50,000)
    # 2,000 images put the loss's standard error at a fifth of one of the figure's colour levels, and 21 × 21 keeps
    # the centre and both borders on the grid: a fifth of the points on a fifth of the images of 41² × 10,000
    n_eval: int = setting(2000, count(MAX_IMAGES), quick=300)  # training images the surface is evaluated on
    grid: int = setting(21, both(odd_between(3, 1001), holds(
        lambda c: (c.grid ** 2 + c.train.epochs + 1) * weights_of(c.model),
        "the model's weights at every grid point and after every epoch")), quick=11)
    span: float = setting(1.0, positive_to(MAX_ALPHA))  # the random-direction grid covers [−span, span]²


@dataclass(frozen=True)
class Result:
    steps: int
    axis: Annotated[np.ndarray, Dims("grid")]  # α and β of the random-direction grid
    random: Annotated[np.ndarray, Dims("alpha", "beta")]  # loss at θ* + α·d₁ + β·d₂
    a_axis: Annotated[np.ndarray, Dims("a")]  # the PCA plane's grid
    b_axis: Annotated[np.ndarray, Dims("b")]
    pca: Annotated[np.ndarray, Dims("a", "b")]  # loss at θ* + a·u₁ + b·u₂
    path: Annotated[np.ndarray, Dims("snapshot", "pc")]  # θ_t − θ* projected on u₁, u₂ (θ* at the origin)
    evr: Annotated[np.ndarray, Dims("pc")]  # the share of the path's variance each PCA direction holds
    train_loss: Annotated[np.ndarray, Dims("epoch")]


def training_sets(cfg: Config, train: data.Split) -> tuple[data.Split, data.Split]:
    """The images the model trains on, and the subset of those same images the surfaces are evaluated on."""
    fit = train.subset(cfg.n_train or None, cfg.train.seed)
    return fit, fit.subset(cfg.n_eval, cfg.train.seed + 1)


def surfaces(cfg: Config, ctx: RunContext) -> Result:
    fit, ev = training_sets(cfg, ctx.dataset("CIFAR-10")[0])
    transform = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)
    stack = engine.Stack(cfg.model, [cfg.train.seed], ctx.device)
    path = [stack.flat_params()[0].clone()]
    hist = engine.train(stack, engine.Task(fit.x, fit.y, transform=transform), cfg.train, desc=f"{ID} {cfg.model}",
                        epoch_hook=lambda e, s: path.append(s.flat_params()[0].clone()))
    center = {n: v[0].detach() for n, v in stack.params.items()}
    gen = torch.Generator().manual_seed(cfg.train.seed)
    d1, d2 = (analysis.filter_normalised_direction(center, gen) for _ in range(2))
    axis = np.linspace(-cfg.span, cfg.span, cfg.grid)
    random = analysis.loss_grid(stack, center, d1, d2, axis, axis, ev.x, ev.y, transform)

    rel = torch.stack(path) - path[-1]
    _, evr, comps = analysis.pca_2d(rel.cpu().numpy())
    v = torch.tensor(comps, dtype=rel.dtype, device=rel.device)
    coords = (rel @ v.T).cpu().numpy()  # projections of θ_t − θ_final: the final weights sit at the origin
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.25 * (hi - lo)
    a_axis = np.linspace(lo[0] - pad[0], hi[0] + pad[0], cfg.grid)
    b_axis = np.linspace(lo[1] - pad[1], hi[1] + pad[1], cfg.grid)
    u1, u2 = (engine.unflatten(v[i], stack.params) for i in range(2))
    pca = analysis.loss_grid(stack, center, u1, u2, a_axis, b_axis, ev.x, ev.y, transform)
    return Result(hist.steps, axis, random, a_axis, b_axis, pca, coords, evr, hist.train_loss[0])


def parts(cfg: Config) -> list[Part]:
    return [Part("surfaces", Result, functools.partial(surfaces, cfg))]


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part(parts(cfg)[0])
