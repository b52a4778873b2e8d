"""Compute stage. HW1-2 minimal ratio: 100 runs driven to zero gradient; exact Hessian eigenvalues at each end point."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import analysis, data, engine, models
from ..results import Results
from ..rules import FUNCTION, architectures, fraction, one_of, positive

ID = "minimal-ratio"


@dataclass
class Config:
    model: str = "MLP-minratio"
    function: str = "f1"
    runs: int = 100
    n_train: int = 300
    epochs: int = 3000  # full-batch Adam steps on the MSE
    lr: float = 1e-2
    gn_steps: int = 3000  # at most this many steps minimising the squared gradient norm
    gn_lr: float = 1e-3
    gn_tol: float = 1e-3
    rel_tol: float = 1e-6  # an eigenvalue counts as positive above rel_tol·max|λ|


QUICK = dict(epochs=500, gn_steps=600)
RULES = dict(model=one_of(architectures(FUNCTION)), function=one_of(data.FUNCTIONS), runs=positive, n_train=positive,
             epochs=positive, lr=positive, gn_steps=positive, gn_lr=positive, gn_tol=positive, rel_tol=fraction)


def run_all(cfg: Config, ctx) -> dict:
    x, y = data.function_points(cfg.function, cfg.n_train, ctx.device)
    ens = engine.Ensemble(cfg.model, list(range(cfg.runs)), ctx.device)
    tc = engine.TrainConfig(cfg.epochs, cfg.n_train, cfg.lr, loss="mse")
    hist = engine.train(ens, engine.Task(x, y), tc, desc=f"{ID} phase 1 ×{cfg.runs}")
    norm, reached = analysis.grad_norm_descent(ens, x, y, cfg.gn_lr, cfg.gn_tol, cfg.gn_steps)
    loss, _ = engine.evaluate(ens, x, y, loss="mse")
    rows = []
    for k in range(cfg.runs):
        eig = analysis.hessian_eigenvalues(ens, k, x, y)
        c = analysis.curvature(eig, cfg.rel_tol)
        rows.append((c.ratio, c.positive, c.negative, c.near_zero, c.ratio_nonzero, eig.min(), eig.max()))
    columns = ("ratio", "positive", "negative", "near_zero", "ratio_nonzero", "eig_min", "eig_max")
    return {"loss": loss, "grad_norm": norm, "reached": reached, **dict(zip(columns, map(np.array, zip(*rows)))),
            "steps": np.array(hist.steps + int(reached.max() if (reached > 0).all() else cfg.gn_steps))}


def run(cfg: Config, ctx) -> Results:
    out = ctx.part("runs", lambda: run_all(cfg, ctx))
    t = pd.DataFrame({k: out[k] for k in ("loss", "grad_norm", "reached", "ratio", "positive", "negative", "near_zero",
                                          "ratio_nonzero", "eig_min", "eig_max")})
    t["met_tol"] = t["reached"] > 0
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]),
                          "params": models.param_count(models.build(cfg.model))}, tables={"runs": t})
    return res
