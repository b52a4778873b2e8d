"""Compute stage. HW1-3 number of parameters vs generalisation: report R's 11 CIFAR-10 CNNs of one shape, different widths."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from .. import models, recipes
from ..results import Results
from ..rules import CIFAR, all_of, architectures, decay, non_negative, positive

ID = "param-count"


@dataclass
class Config:
    models: tuple = tuple(f"CNN-{n}" for n in models.PARAM_COUNT_WIDTHS)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 4e-4
    weight_decay: float = 1e-4
    step_size: int = 10
    gamma: float = 0.1
    n_train: int = 0
    n_test: int = 0
    n_eval_train: int = 10_000
    seed: int = 0


QUICK = dict(epochs=2, n_train=1500, n_test=1000, n_eval_train=1000)
RULES = dict(models=all_of(architectures(CIFAR)), epochs=positive, batch_size=positive, lr=positive,
             weight_decay=non_negative, step_size=non_negative, gamma=decay, n_train=non_negative,
             n_test=non_negative, n_eval_train=positive, seed=non_negative)


def runs(cfg: Config) -> list[recipes.CifarRun]:
    return [recipes.CifarRun(m, cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.step_size, cfg.gamma,
                             cfg.n_train, cfg.n_test, cfg.n_eval_train, cfg.seed) for m in cfg.models]


def run(cfg: Config, ctx) -> Results:
    rows, steps = [], 0
    for r in runs(cfg):
        out = recipes.train_cifar(r, ctx, desc=f"{ID} {r.arch}")
        steps += int(out["steps"])
        rows.append({"model": r.arch, "params": models.param_count(models.build(r.arch)),
                     "train_loss": float(out["final_train_loss"]), "test_loss": float(out["final_test_loss"]),
                     "train_acc": float(out["final_train_acc"]), "test_acc": float(out["final_test_acc"]),
                     "diverged": recipes.diverged(out)})
    return Results(values={"config": asdict(cfg), "steps": steps}, tables={"models": pd.DataFrame(rows)})
