"""Compute stage. HW1-3 flatness part 2: input sensitivity of models trained with different batch sizes and
learning rates."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd

from .. import analysis, engine, recipes
from ..context import RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..results import Dims
from ..rules import CIFAR, architectures, each_positive, one_of, positive
from ..settings import setting, settings

ID = "sensitivity"


@settings
class Config:
    model: str = setting("CNN-shallow", one_of(architectures(CIFAR)))
    # The batch-size sweep trains at train.lr, the learning-rate sweep at train.batch_size.
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=25, batch_size=512, lr=1e-3), quick=dict(epochs=2))
    batch_sizes: tuple[int, ...] = setting((16, 64, 256, 1024, 4096), each_positive)
    lrs: tuple[float, ...] = setting((1e-1, 1e-2, 1e-3, 1e-4, 1e-5), each_positive)
    data: Sizes = setting(Sizes(), quick=dict(n_train=2000, n_test=1000))
    n_eval_train: int = setting(10_000, positive, quick=1000)  # training images behind the training metrics
    n_sens: int = setting(2000, positive, quick=300)  # test images the sensitivities are averaged over


@dataclass(frozen=True)
class Result:
    steps: int
    # One row per trained model, batch sweep first: sweep ('batch' | 'lr'), batch, lr, steps, diverged_epoch,
    # train/test loss and accuracy (evaluation mode), jacobian and loss_grad (the two sensitivities).
    runs: pd.DataFrame
    weights: Annotated[np.ndarray, Dims("run", "param")]  # each model's weights, in the rows' order


def sweep_runs(cfg: Config, sweep: str) -> list[recipes.CifarRun]:
    """The trained models of one sweep ('batch' or 'lr')."""
    run = lambda train: recipes.CifarRun(cfg.model, train, cfg.data, cfg.n_eval_train)
    if sweep == "batch":
        return [run(dataclasses.replace(cfg.train, batch_size=b)) for b in cfg.batch_sizes]
    return [run(dataclasses.replace(cfg.train, lr=lr)) for lr in cfg.lrs]


def measure(cfg: Config, ctx: RunContext, sweep: str) -> tuple[list[dict], list[np.ndarray]]:
    rows, weights = [], []
    stack = engine.Stack(cfg.model, [cfg.train.seed], ctx.device)
    for r in sweep_runs(cfg, sweep):
        t = recipes.train_cifar(r, ctx, desc=f"{ID} batch {r.train.batch_size} lr {r.train.lr:g}")
        row = {"sweep": sweep, "batch": r.train.batch_size, "lr": r.train.lr, "steps": t.steps,
               "diverged_epoch": t.diverged_epoch, "train_loss": t.final_train_loss, "test_loss": t.final_test_loss,
               "train_acc": t.final_train_acc, "test_acc": t.final_test_acc, "jacobian": np.nan, "loss_grad": np.nan}
        if not t.diverged:
            _, _, test = recipes.splits(r, ctx)
            sens = test.subset(cfg.n_sens, cfg.train.seed + 2)
            row["jacobian"], row["loss_grad"] = analysis.sensitivities(
                stack, recipes.stacked_weights(stack, [t]), sens.x, sens.y, recipes.CIFAR_TRANSFORM)
        rows.append(row)
        weights.append(t.weights)
    return rows, weights


def run(cfg: Config, ctx: RunContext) -> Result:
    (batch_rows, batch_w), (lr_rows, lr_w) = measure(cfg, ctx, "batch"), measure(cfg, ctx, "lr")
    runs = pd.DataFrame(batch_rows + lr_rows)
    return Result(int(runs["steps"].sum()), runs, np.stack(batch_w + lr_w))
