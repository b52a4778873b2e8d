"""Compute stage. HW1-3 number of parameters vs generalisation: 11 CIFAR-10 CNNs of one shape, different widths."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import engine, models, recipes
from ..context import Part, RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..rules import CIFAR, MAX_IMAGES, all_of, architectures, count
from ..settings import setting, settings

ID = "param-count"


@settings
class Config:
    models: tuple[str, ...] = setting(tuple(f"CNN-{n}" for n in models.PARAM_COUNT_WIDTHS), all_of(architectures(CIFAR)))
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=30, batch_size=64, lr=4e-4, weight_decay=1e-4,
                                                           step_size=10, gamma=0.1), quick=dict(epochs=2))
    data: Sizes = setting(Sizes(), quick=dict(n_train=1500, n_test=1000))
    n_eval_train: int = setting(10_000, count(MAX_IMAGES), quick=1000)  # training images behind the final training metrics


@dataclass(frozen=True)
class Result:
    steps: int
    models: pd.DataFrame  # one row per model: model, params, train/test loss and accuracy, diverged_epoch


def runs(cfg: Config) -> list[recipes.CifarRun]:
    return [recipes.CifarRun(m, cfg.train, cfg.data, cfg.n_eval_train) for m in cfg.models]


def parts(cfg: Config) -> list[Part]:
    return [recipes.model_part(r) for r in runs(cfg)]


def run(cfg: Config, ctx: RunContext) -> Result:
    specs = runs(cfg)
    trained = [recipes.train_cifar(r, ctx) for r in specs]
    rows = [{"model": r.arch, "params": models.param_count_of(r.arch), "train_loss": t.final_train_loss,
             "test_loss": t.final_test_loss, "train_acc": t.final_train_acc, "test_acc": t.final_test_acc,
             "diverged_epoch": t.diverged_epoch} for r, t in zip(specs, trained)]
    return Result(sum(t.steps for t in trained), pd.DataFrame(rows))
