"""Compute stage. HW1-2 optimisation path: 8 runs of one architecture, weights every 3 epochs, one shared PCA."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from .. import analysis, data, engine, models
from ..context import Part, RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..results import Dims
from ..rules import (CIFAR, FUNCTION, MAX_EPOCHS, MAX_IMAGES, MAX_MODELS, architectures, both, count, holds, one_of,
                     weights_of)
from ..settings import setting, settings

ID = "optimization-path"


@settings
class Config:
    model: str = setting("CNN-21", one_of(architectures(CIFAR) + architectures(FUNCTION)))  # an MLP fits f1 instead
    runs: int = setting(8, count(MAX_MODELS))
    # Batch 1000 keeps 8 runs × 30 epochs affordable on a CPU, but at param-count's rate (4e-4, cut every 10 epochs)
    # they took 500 steps at the full rate and ended at 40-44 % test accuracy against 56 % for CNN-21 there: the paths
    # showed mostly the initialisation. 10× the rate, held for 20 epochs, trains them (one probe run: 64 %).
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=30, batch_size=1000, lr=4e-3, weight_decay=1e-4,
                                                           step_size=20, gamma=0.1),
                                        quick=dict(epochs=6, batch_size=100, lr=1e-3, step_size=4))
    every: int = setting(3, both(count(MAX_EPOCHS), holds(  # epochs between recorded weights
        lambda c: c.runs * (c.train.epochs // c.every + 2) * weights_of(c.model), "every run's recorded weights")))
    data: Sizes = setting(Sizes(), quick=dict(n_train=1000, n_test=500))  # CIFAR-10 images
    n_points: int = setting(300, count(MAX_IMAGES))  # f1 points for an MLP


@dataclass(frozen=True)
class Result:
    steps: int
    metric: str  # what labels the points: "accuracy" (test, CIFAR-10) or "loss" (training MSE, f1)
    whole: Annotated[np.ndarray, Dims("run", "snapshot", "pc")]  # all weights in the shared PCA basis
    layer: Annotated[np.ndarray, Dims("run", "snapshot", "pc")]  # the first layer's weight and bias alone
    whole_evr: Annotated[np.ndarray, Dims("pc")]  # share of the variance each component holds
    layer_evr: Annotated[np.ndarray, Dims("pc")]
    values: Annotated[np.ndarray, Dims("run", "snapshot")]  # the metric at each snapshot
    epochs: Annotated[np.ndarray, Dims("snapshot")]  # epochs done at each snapshot (0 = initialisation)
    displacement: Annotated[np.ndarray, Dims("run")]  # ‖θ_end − θ_start‖
    start_dist: Annotated[np.ndarray, Dims("pair")]  # distance between every pair of runs at the start
    end_dist: Annotated[np.ndarray, Dims("pair")]  # ... and at the end
    diverged_epoch: Annotated[np.ndarray, Dims("run")]


def is_regression(cfg: Config) -> bool:
    return models.ARCHS[cfg.model].input_shape == (1,)


def is_snapshot(epochs_done: int, cfg: Config) -> bool:
    """The weights are recorded at the start, every `every` epochs, and always after the last epoch."""
    return epochs_done % cfg.every == 0 or epochs_done == cfg.train.epochs


def make_task(cfg: Config, ctx: RunContext) -> engine.Task:
    if is_regression(cfg):
        x, y = data.function_points("f1", cfg.n_points, ctx.device)
        return engine.Task(x, y, loss="mse")
    train, test = ctx.dataset("CIFAR-10")
    train, test = train.subset(cfg.data.n_train or None), test.subset(cfg.data.n_test or None)
    return engine.Task(train.x, train.y, test.x, test.y, data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True))


def pairwise_distances(weights: np.ndarray) -> np.ndarray:
    """Euclidean distances between every pair of rows (runs)."""
    k = len(weights)
    return np.linalg.norm(weights[:, None] - weights[None], axis=2)[np.triu_indices(k, 1)]


def train_runs(cfg: Config, ctx: RunContext) -> Result:
    task = make_task(cfg, ctx)
    stack = engine.Stack(cfg.model, list(range(cfg.runs)), ctx.device)
    first = [n for n in stack.params][:2]  # the first layer's weight and bias
    snaps, layer, values, epochs = [], [], [], []

    def record(epoch: int, s: engine.Stack) -> None:
        if not is_snapshot(epoch + 1, cfg):
            return
        snaps.append(s.flat_params().cpu().numpy())
        layer.append(torch.cat([s.params[n].detach().flatten(1) for n in first], 1).cpu().numpy())
        regression = task.loss == "mse"
        x, y = (task.train_x, task.train_y) if regression else (task.test_x, task.test_y)
        assert x is not None and y is not None
        loss, acc = engine.evaluate(s, x, y, task.transform, task.loss)
        values.append(loss if regression else acc)
        epochs.append(epoch + 1)

    record(-1, stack)
    hist = engine.train(stack, task, cfg.train, desc=f"{ID} {cfg.model}×{cfg.runs}", epoch_hook=record)
    whole, whole_evr, _ = analysis.pca_2d(np.concatenate(snaps, 0))
    first_layer, layer_evr, _ = analysis.pca_2d(np.concatenate(layer, 0))
    s, k = len(snaps), cfg.runs
    start, end = snaps[0], snaps[-1]
    return Result(hist.steps, "loss" if is_regression(cfg) else "accuracy",
                  whole.reshape(s, k, 2).transpose(1, 0, 2), first_layer.reshape(s, k, 2).transpose(1, 0, 2),
                  whole_evr, layer_evr, np.stack(values, 1), np.array(epochs), np.linalg.norm(end - start, axis=1),
                  pairwise_distances(start), pairwise_distances(end), hist.diverged_epoch)


def parts(cfg: Config) -> list[Part]:
    return [Part("runs", Result, functools.partial(train_runs, cfg))]


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part(parts(cfg)[0])
