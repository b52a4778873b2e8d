"""Compute stage. HW1-3 bonus: ε-sharpness (Keskar et al. 2017) of the batch-size models that the sensitivity
experiment trained (at one learning rate and at a rate scaled with the batch, every seed), beside the sensitivities
it measured."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd

from .. import analysis, engine, recipes
from ..context import Part, RunContext
from ..results import Dims
from ..rules import MAX_EPOCHS, MAX_IMAGES, count, each_positive_to
from ..settings import setting, settings
from . import sensitivity

ID = "sharpness"
INPUTS = (sensitivity.ID,)  # the models it analyses and their sensitivities are sensitivity's


@settings
class Config:
    eps: tuple[float, ...] = setting((1e-3, 5e-4), each_positive_to(1.0))  # a box of ±ε·(|w| + 1)
    ascent_steps: int = setting(20, count(MAX_EPOCHS), quick=8)
    n_sharp: int = setting(2000, count(MAX_IMAGES), quick=500)  # training images the loss in the box is measured on


@dataclass(frozen=True)
class Result:
    steps: int  # none of its own: the models are sensitivity's
    # sensitivity's batch-size sweeps ("batch" and "scaled"), one row per model: sweep, seed, batch, lr,
    # diverged_epoch, train and test loss and accuracy, jacobian
    models: pd.DataFrame
    sharpness: Annotated[np.ndarray, Dims("eps", "model")]  # φ in percent; NaN for a diverged model


@dataclass(frozen=True)
class AtEps:
    """φ at one ε for every model of the batch-size sweeps: one part of the experiment."""
    sharpness: Annotated[np.ndarray, Dims("model")]


BATCH_SWEEPS = ("batch", "scaled")


def batch_rows(sens: sensitivity.Result) -> np.ndarray:
    """Which of sensitivity's models belong to a batch-size sweep."""
    return sens.runs["sweep"].isin(BATCH_SWEEPS).to_numpy()


def batch_models(ctx: RunContext) -> pd.DataFrame:
    """sensitivity's batch-size sweeps, one row per model."""
    _, sens = ctx.input(sensitivity.ID, sensitivity.Config, sensitivity.Result)
    columns = ["sweep", "seed", "batch", "lr", "diverged_epoch", "train_loss", "test_loss", "train_acc", "test_acc",
               "jacobian"]
    return sens.runs[batch_rows(sens)][columns].reset_index(drop=True)


def sharpness_at(cfg: Config, eps: float, ctx: RunContext) -> AtEps:
    sens_cfg, sens = ctx.input(sensitivity.ID, sensitivity.Config, sensitivity.Result)
    ok = (batch_models(ctx)["diverged_epoch"] == 0).to_numpy()
    phi = np.full(len(ok), np.nan)
    if ok.any():
        run0 = sensitivity.sweep_runs(sens_cfg, "batch")[0]
        train, _, _ = recipes.splits(run0, ctx)
        sharp_set = train.subset(cfg.n_sharp, sens_cfg.train.seed + 3)  # the same images for every model
        stack = engine.Stack(sens_cfg.model, [sens_cfg.train.seed], ctx.device)
        weights = stack.params_from(sens.weights[batch_rows(sens)][ok])
        phi[ok] = analysis.eps_sharpness(stack, weights, sharp_set.x, sharp_set.y, recipes.CIFAR_TRANSFORM, eps,
                                         cfg.ascent_steps)
    return AtEps(phi)


def parts(cfg: Config) -> list[Part]:
    return [Part(f"eps-{eps!r}", AtEps, functools.partial(sharpness_at, cfg, eps)) for eps in cfg.eps]


def run(cfg: Config, ctx: RunContext) -> Result:
    phi = np.stack([ctx.part(p).sharpness for p in parts(cfg)])
    return Result(0, batch_models(ctx), phi)
