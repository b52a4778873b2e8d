"""Compute stage. HW1-2 minimal ratio: 100 runs driven to zero gradient; exact Hessian eigenvalues at each end point."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import analysis, data, engine, models
from ..context import RunContext
from ..rules import FUNCTION, architectures, fraction, one_of, positive
from ..settings import setting, settings

ID = "minimal-ratio"


@settings
class Config:
    model: str = setting("MLP-minratio", one_of(architectures(FUNCTION)))
    function: str = setting("f1", one_of(data.FUNCTIONS))
    runs: int = setting(100, positive)
    n_train: int = setting(300, positive)
    # Phase 1: full-batch Adam on the MSE (the batch is the whole training set)
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=3000, batch_size=300, lr=1e-2),
                                        quick=dict(epochs=500))
    gn_steps: int = setting(3000, positive, quick=600)  # at most this many steps minimising the squared gradient norm
    gn_lr: float = setting(1e-3, positive)
    gn_tol: float = setting(1e-3, positive)
    rel_tol: float = setting(1e-6, fraction)  # an eigenvalue counts as positive above rel_tol·max|λ|


@dataclass(frozen=True)
class Result:
    steps: int
    params: int  # parameters of the model, so eigenvalues per run
    # One row per run: loss and grad_norm at the end point, reached (the phase-2 step that met the tolerance, 0 =
    # never), the minimal ratio, the counts of positive / negative / near-zero eigenvalues, ratio_nonzero, and the
    # extreme eigenvalues eig_min, eig_max.
    runs: pd.DataFrame


def run_all(cfg: Config, ctx: RunContext) -> Result:
    x, y = data.function_points(cfg.function, cfg.n_train, ctx.device)
    stack = engine.Stack(cfg.model, list(range(cfg.runs)), ctx.device)
    hist = engine.train(stack, engine.Task(x, y, loss="mse"), cfg.train, desc=f"{ID} phase 1 ×{cfg.runs}")
    norm, reached = analysis.grad_norm_descent(stack, x, y, cfg.gn_lr, cfg.gn_tol, cfg.gn_steps)
    loss, _ = engine.evaluate(stack, x, y, loss="mse")
    rows = []
    for k in range(cfg.runs):
        eig = analysis.hessian_eigenvalues(stack, k, x, y)
        c = analysis.curvature(eig, cfg.rel_tol)
        rows.append({"loss": loss[k], "grad_norm": norm[k], "reached": reached[k], "ratio": c.ratio,
                     "positive": c.positive, "negative": c.negative, "near_zero": c.near_zero,
                     "ratio_nonzero": c.ratio_nonzero, "eig_min": eig.min(), "eig_max": eig.max()})
    phase2 = int(reached.max()) if (reached > 0).all() else cfg.gn_steps
    return Result(hist.steps + phase2, models.param_count(models.build(cfg.model)), pd.DataFrame(rows))


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part("runs", Result, lambda: run_all(cfg, ctx))
