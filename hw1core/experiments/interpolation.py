"""Compute stage. HW1-3 flatness part 1: the loss along the line between two trained models, θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import analysis, engine, recipes
from ..results import Results
from ..rules import (CIFAR, architectures, each_positive, greater_than, is_finite, non_negative, one_of, pair_of,
                     positive)

ID = "interpolation"


@dataclass
class Config:
    model: str = "CNN-shallow"
    epochs: int = 25
    batches: tuple = (64, 1024)
    batch_lr: float = 1e-3  # learning rate of the batch-size pair
    lrs: tuple = (1e-3, 1e-2)
    lr_batch: int = 64  # batch size of the learning-rate pair
    weight_decay: float = 0.0
    alpha_min: float = -1.0
    alpha_max: float = 2.0
    n_alpha: int = 31
    n_train: int = 0
    n_test: int = 0
    n_eval_train: int = 10_000
    seed: int = 0


QUICK = dict(epochs=3, n_train=3000, n_test=1000, n_eval_train=1000, n_alpha=16)
RULES = dict(model=one_of(architectures(CIFAR)), epochs=positive, batches=pair_of(each_positive, "positive batch sizes"),
             batch_lr=positive, lrs=pair_of(each_positive, "positive learning rates"), lr_batch=positive,
             weight_decay=non_negative, alpha_min=is_finite, alpha_max=greater_than("alpha_min"), n_alpha=positive,
             n_train=non_negative, n_test=non_negative, n_eval_train=positive, seed=non_negative)


def pairs(cfg: Config) -> dict[str, list[recipes.CifarRun]]:
    run = lambda batch, lr: recipes.CifarRun(cfg.model, cfg.epochs, batch, lr, cfg.weight_decay, 0, 0.1, cfg.n_train,
                                             cfg.n_test, cfg.n_eval_train, cfg.seed)
    return {"batch": [run(b, cfg.batch_lr) for b in cfg.batches], "lr": [run(cfg.lr_batch, lr) for lr in cfg.lrs]}


def labels(cfg: Config) -> dict[str, list[str]]:
    return {"batch": [f"batch {b}" for b in cfg.batches], "lr": [f"lr {lr:g}" for lr in cfg.lrs]}


def interpolate(cfg: Config, ctx, runs: list[recipes.CifarRun], name: str) -> dict:
    ends = [recipes.train_cifar(r, ctx, desc=f"{ID} {name} {i}") for i, r in enumerate(runs)]
    stack = recipes.stacked_params(ends, ctx.device)
    alphas = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha)
    coeff = torch.tensor(alphas, dtype=torch.float32, device=ctx.device).unsqueeze(1)
    start = {n: v[0] for n, v in stack.items()}
    line = analysis.combine(start, [{n: v[1] - v[0] for n, v in stack.items()}], coeff)
    _, train_eval, test = recipes.splits(runs[0], ctx)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    out = {"alpha": alphas, "steps": np.array(sum(int(e["steps"]) for e in ends))}
    for split, s in (("train", train_eval), ("test", test)):
        out[f"{split}_loss"], out[f"{split}_acc"] = engine.evaluate(ens, s.x, s.y, recipes.CIFAR_TRANSFORM,
                                                                     params=line, chunk=16)
        for i, e in enumerate(ends):
            out[f"{split}_loss_end{i}"] = e[f"final_{split}_loss"]
            out[f"{split}_acc_end{i}"] = e[f"final_{split}_acc"]
    return out


def run(cfg: Config, ctx) -> Results:
    res = Results(values={"config": asdict(cfg), "steps": 0, "labels": labels(cfg)})
    rows = []
    for name, runs in pairs(cfg).items():
        out = interpolate(cfg, ctx, runs, name)
        res.values["steps"] += int(out["steps"])
        for k in ("alpha", "train_loss", "train_acc", "test_loss", "test_acc"):
            res.arrays[f"{name}/{k}"] = out[k]
        for i, label in enumerate(labels(cfg)[name]):
            rows.append({"pair": name, "model": label, "train_loss": float(out[f"train_loss_end{i}"]),
                         "test_loss": float(out[f"test_loss_end{i}"]), "train_acc": float(out[f"train_acc_end{i}"]),
                         "test_acc": float(out[f"test_acc_end{i}"])})
    res.tables["ends"] = pd.DataFrame(rows)
    return res
