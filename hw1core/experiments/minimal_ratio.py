"""Compute stage. HW1-2 minimal ratio: 100 runs driven to zero gradient; exact Hessian eigenvalues at each end point."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd

from .. import analysis, data, engine
from ..context import Part, RunContext
from ..rules import (FUNCTION, MAX_EPOCHS, MAX_GRID, MAX_MODELS, MAX_RATE, architectures, both, count, fraction,
                     holds, one_of, positive, positive_to, weights_of)
from ..settings import setting, settings

ID = "minimal-ratio"


@settings
class Config:
    model: str = setting("MLP-minratio", one_of(architectures(FUNCTION)))
    function: str = setting("f1", one_of(data.FUNCTIONS))
    runs: int = setting(100, count(10 * MAX_MODELS))
    n_train: int = setting(300, both(count(MAX_GRID), holds(  # the runs train at once; parameters bound activations
        lambda c: c.runs * c.n_train * weights_of(c.model), "the runs' activations on every point")))
    epochs: int = setting(3000, count(MAX_EPOCHS), quick=500)  # phase 1: full-batch Adam steps on the MSE
    lr: float = setting(1e-2, positive_to(MAX_RATE))
    gn_steps: int = setting(3000, count(MAX_EPOCHS), quick=600)  # at most this many steps minimising the squared gradient norm
    gn_lr: float = setting(1e-3, positive_to(MAX_RATE))
    gn_tol: float = setting(1e-3, positive)
    rel_tol: float = setting(1e-6, fraction)  # an eigenvalue counts as positive above rel_tol·max|λ|


@dataclass(frozen=True)
class Result:
    steps: int
    # One row per run: loss and grad_norm at the end point, reached (the phase-2 step that met the tolerance, 0 =
    # never), the minimal ratio, the counts of positive / negative / near-zero eigenvalues (|λ| ≤ rel_tol·max|λ|),
    # ratio_nonzero, above_zero (λ > 0, no threshold), gauss_newton_rank (eigenvalues of the Gauss-Newton term
    # (2/N)·JᵀJ above the same threshold) and the extreme eigenvalues eig_min, eig_max.
    runs: pd.DataFrame


def run_all(cfg: Config, ctx: RunContext) -> Result:
    x, y = data.function_points(cfg.function, cfg.n_train, ctx.device)
    stack = engine.Stack(cfg.model, list(range(cfg.runs)), ctx.device)
    full_batch = engine.TrainConfig(epochs=cfg.epochs, batch_size=cfg.n_train, lr=cfg.lr)
    hist = engine.train(stack, engine.Task(x, y, loss="mse"), full_batch, desc=f"{ID} phase 1 ×{cfg.runs}")
    norm, reached = analysis.grad_norm_descent(stack, x, y, cfg.gn_lr, cfg.gn_tol, cfg.gn_steps)
    loss, _ = engine.evaluate(stack, x, y, loss="mse")
    rows = []
    for k in range(cfg.runs):
        eig = analysis.hessian_eigenvalues(stack, k, x, y)
        c = analysis.curvature(eig, cfg.rel_tol)
        gauss_newton = analysis.gauss_newton_eigenvalues(stack, k, x)
        rows.append({"loss": loss[k], "grad_norm": norm[k], "reached": reached[k], "ratio": c.ratio,
                     "positive": c.positive, "negative": c.negative, "near_zero": c.near_zero,
                     "ratio_nonzero": c.ratio_nonzero, "above_zero": int((eig > 0).sum()),
                     "gauss_newton_rank": int((gauss_newton > c.threshold).sum()),
                     "eig_min": eig.min(), "eig_max": eig.max()})
    phase2 = int(reached.max()) if (reached > 0).all() else cfg.gn_steps
    return Result(hist.steps + phase2, pd.DataFrame(rows))


def parts(cfg: Config) -> list[Part]:
    return [Part("runs", Result, functools.partial(run_all, cfg))]


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part(parts(cfg)[0])
