"""Compute stage. HW1-1 simulate: three MLPs of ~573 parameters fit two 1-D functions; several seeds each."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import data, engine, models
from ..results import Results
from ..rules import FUNCTION, all_of, architectures, non_negative, positive

ID = "simulate"

FUNCTIONS = data.FUNCTIONS


@dataclass
class Config:
    models: tuple = ("MLP-deep", "MLP-middle", "MLP-shallow")
    functions: tuple = ("f1", "f2")
    epochs: int = 20_000
    batch_size: int = 64
    lr: float = 4e-4
    weight_decay: float = 1e-4
    seeds: int = 5
    n_train: int = 300
    n_grid: int = 1000
    converge_tol: float = 1e-6


QUICK = dict(epochs=600, seeds=3)
RULES = dict(models=all_of(architectures(FUNCTION)), functions=all_of(data.FUNCTIONS), epochs=positive,
             batch_size=positive, lr=positive, weight_decay=non_negative, seeds=positive, n_train=positive,
             n_grid=positive, converge_tol=positive)


def train_model(arch: str, cfg: Config, x: torch.Tensor, targets: torch.Tensor, grid: torch.Tensor) -> dict:
    """All functions × seeds of one architecture as one stacked ensemble; losses per epoch and predictions."""
    k = len(cfg.functions) * cfg.seeds
    seeds = [s for _ in cfg.functions for s in range(cfg.seeds)]  # the same inits for every function
    ens = engine.Ensemble(arch, seeds, x.device)
    task = engine.Task(x.expand(k, *x.shape), targets.repeat_interleave(cfg.seeds, 0), per_member=True)
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, loss="mse")
    hist = engine.train(ens, task, tc, desc=f"simulate {arch}")
    ens.train(False)
    with torch.no_grad():
        pred = ens(grid, shared=True).squeeze(-1).cpu().numpy()
    return {"loss": hist.train_loss, "pred": pred, "diverged": hist.diverged_epoch, "steps": np.array(hist.steps)}


def converged_epoch(loss: np.ndarray, tol: float) -> int | None:
    """First (1-based) epoch after which every epoch-to-epoch change stays below tol; None if never."""
    changes = np.abs(np.diff(loss))
    bad = np.flatnonzero(~(changes < tol))  # NaN counts as a change
    if len(changes) == 0 or (len(bad) and bad[-1] == len(changes) - 1):
        return None
    return int(bad[-1]) + 2 if len(bad) else 1


AT_MEAN = 0.9  # a run whose final MSE is at least this share of Var(f) on the training points predicts ~the mean


def seed_spread(final: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) over the seeds that did not diverge; NaN where undefined."""
    ok = final[np.isfinite(final)]
    return (float(ok.mean()) if len(ok) else math.nan), (float(ok.std(ddof=1)) if len(ok) > 1 else math.nan)


def run(cfg: Config, ctx) -> Results:
    device = ctx.device
    x = torch.linspace(-1, 1, cfg.n_train, device=device).unsqueeze(1)
    grid = torch.linspace(-1, 1, cfg.n_grid, device=device).unsqueeze(1)
    targets = torch.stack([FUNCTIONS[f][1](x) for f in cfg.functions])
    res = Results(values={"config": asdict(cfg), "params": {}, "steps": 0})
    res.arrays["grid"] = grid.squeeze(1).cpu().numpy()
    res.arrays["x"] = x.squeeze(1).cpu().numpy()
    for f in cfg.functions:
        res.arrays[f"truth/{f}"] = FUNCTIONS[f][1](grid).squeeze(1).cpu().numpy()
    rows = []
    for arch in cfg.models:
        out = ctx.part(arch, lambda: train_model(arch, cfg, x, targets, grid))
        res.values["params"][arch] = models.param_count(models.build(arch))
        res.values["steps"] += int(out["steps"])
        for i, f in enumerate(cfg.functions):
            members = slice(i * cfg.seeds, (i + 1) * cfg.seeds)
            loss, pred = out["loss"][members], out["pred"][members]
            res.arrays[f"loss/{f}/{arch}"], res.arrays[f"pred/{f}/{arch}"] = loss, pred
            final = loss[:, -1]
            epochs = [converged_epoch(run_loss, cfg.converge_tol) for run_loss in loss]
            done = [e for e in epochs if e is not None]
            mean, sd = seed_spread(final)
            variance = float(targets[i].var(unbiased=False))
            rows.append({"function": f, "model": arch, "params": res.values["params"][arch],
                         "final_loss_mean": mean, "final_loss_sd": sd,
                         "final_loss_median": float(np.nanmedian(final)) if np.isfinite(final).any() else math.nan,
                         "target_variance": variance, "runs_at_mean": int((final >= AT_MEAN * variance).sum()),
                         "converged_runs": len(done), "runs": cfg.seeds,
                         "diverged_runs": int((out["diverged"][members] > 0).sum()),
                         "converged_epoch_median": float(np.median(done)) if done else math.nan})
    res.tables["summary"] = pd.DataFrame(rows)
    return res
