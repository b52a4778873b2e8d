"""Compute stage. HW1-3 flatness part 2: input sensitivity of models trained with different batch sizes and
learning rates."""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd

from .. import analysis, engine, recipes
from ..context import Part, RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..results import Dims
from ..rules import (CIFAR, MAX_BATCH, MAX_IMAGES, MAX_MODELS, MAX_RATE, architectures, between, count, each_count,
                     each_positive_to, one_of)
from ..settings import setting, settings

ID = "sensitivity"


@settings
class Config:
    model: str = setting("CNN-shallow", one_of(architectures(CIFAR)))
    # The batch-size sweep trains at train.lr, the learning-rate sweep at train.batch_size, and the scaled sweep each
    # batch size b at train.lr·(b / train.batch_size)^lr_scaling. At one rate and equal epochs batch 4096 takes 1/256
    # of batch 16's steps and under-fits; scaling the rate with the batch (0.5: the square-root rule for Adam, 1: the
    # linear rule of Goyal et al. 2017) matches their training at the same cost.
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=25, batch_size=512, lr=1e-3), quick=dict(epochs=2))
    batch_sizes: tuple[int, ...] = setting((16, 64, 256, 1024, 4096), each_count(MAX_BATCH))
    lrs: tuple[float, ...] = setting((1e-1, 1e-2, 1e-3, 1e-4, 1e-5), each_positive_to(MAX_RATE))
    lr_scaling: float = setting(0.5, between(0.0, 2.0))  # 0.5: square-root scaling, 1: linear
    seeds: int = setting(3, count(MAX_MODELS), quick=1)  # every sweep point is trained with seeds 0 .. seeds − 1
    data: Sizes = setting(Sizes(), quick=dict(n_train=2000, n_test=1000))
    n_eval_train: int = setting(10_000, count(MAX_IMAGES), quick=1000)  # training images behind the training metrics
    n_sens: int = setting(2000, count(MAX_IMAGES), quick=300)  # test images the sensitivities are averaged over


@dataclass(frozen=True)
class Result:
    steps: int
    # One row per trained model, seed by seed, sweeps in SWEEPS order: sweep, seed, batch, lr, steps, diverged_epoch,
    # train/test loss and accuracy (evaluation mode), jacobian and loss_grad (the two sensitivities).
    runs: pd.DataFrame
    weights: Annotated[np.ndarray, Dims("run", "param")]  # each model's weights, in the rows' order


SWEEPS = ("batch", "lr", "scaled")


def scaled_lr(cfg: Config, batch: int) -> float:
    """The scaled sweep's learning rate for a batch size."""
    return cfg.train.lr * (batch / cfg.train.batch_size) ** cfg.lr_scaling


def sweep_runs(cfg: Config, sweep: str, seed: int = 0) -> list[recipes.CifarRun]:
    """The trained models of one sweep (one of SWEEPS) for one seed, in the order of the values it varies."""
    run = lambda **changes: recipes.CifarRun(cfg.model, dataclasses.replace(cfg.train, seed=seed, **changes),
                                             cfg.data, cfg.n_eval_train)
    if sweep == "batch":
        return [run(batch_size=b) for b in cfg.batch_sizes]
    if sweep == "scaled":
        return [run(batch_size=b, lr=scaled_lr(cfg, b)) for b in cfg.batch_sizes]
    return [run(lr=lr) for lr in cfg.lrs]


@dataclass(frozen=True)
class Sensitivities:
    """One trained model's two sensitivities (NaN for a model that diverged): one part of the experiment."""
    jacobian: float
    loss_grad: float


def measure(cfg: Config, run: recipes.CifarRun, ctx: RunContext) -> Sensitivities:
    t = recipes.train_cifar(run, ctx)
    if t.diverged:
        return Sensitivities(math.nan, math.nan)
    _, _, test = recipes.splits(run, ctx)
    sens = test.subset(cfg.n_sens, cfg.train.seed + 2)  # the same images for every model
    stack = engine.Stack(cfg.model, [run.train.seed], ctx.device)
    jacobian, loss_grad = analysis.sensitivities(stack, recipes.stacked_weights(stack, [t]), sens.x, sens.y,
                                                 recipes.CIFAR_TRANSFORM)
    return Sensitivities(jacobian, loss_grad)


def measured(cfg: Config) -> list[tuple[str, int, recipes.CifarRun, Part]]:
    """(sweep, seed, trained model, its sensitivities) for every model, seed by seed (a build that stops early has
    whole sweeps of the first seeds), then in SWEEPS order."""
    out = []
    for seed in range(cfg.seeds):
        for sweep in SWEEPS:
            for i, r in enumerate(sweep_runs(cfg, sweep, seed)):
                part = Part(f"{sweep}-{i}-seed-{seed}", Sensitivities, functools.partial(measure, cfg, r),
                            needs=(recipes.model_part(r),))
                out.append((sweep, seed, r, part))
    return out


def parts(cfg: Config) -> list[Part]:
    sens = [p for *_, p in measured(cfg)]
    return [p.needs[0] for p in sens] + sens


def run(cfg: Config, ctx: RunContext) -> Result:
    rows, weights = [], []
    for sweep, seed, r, part in measured(cfg):
        t, s = recipes.train_cifar(r, ctx), ctx.part(part)
        rows.append({"sweep": sweep, "seed": seed, "batch": r.train.batch_size, "lr": r.train.lr, "steps": t.steps,
                     "diverged_epoch": t.diverged_epoch, "train_loss": t.final_train_loss,
                     "test_loss": t.final_test_loss, "train_acc": t.final_train_acc, "test_acc": t.final_test_acc,
                     "jacobian": s.jacobian, "loss_grad": s.loss_grad})
        weights.append(t.weights)
    runs = pd.DataFrame(rows)
    return Result(int(runs["steps"].sum()), runs, np.stack(weights))
