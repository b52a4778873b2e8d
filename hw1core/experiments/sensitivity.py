"""Compute stage. HW1-3 flatness part 2: input sensitivity of CNN-shallow trained with different batch sizes and learning rates."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import analysis, engine, recipes
from ..results import Results
from ..rules import CIFAR, architectures, each_positive, non_negative, one_of, positive

ID = "sensitivity"


@dataclass
class Config:
    model: str = "CNN-shallow"
    epochs: int = 25
    batch_sizes: tuple = (16, 64, 256, 1024, 4096)
    batch_lr: float = 1e-3  # learning rate of the batch-size runs
    lrs: tuple = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    lr_batch: int = 512  # batch size of the learning-rate runs
    weight_decay: float = 0.0
    n_train: int = 0
    n_test: int = 0
    n_eval_train: int = 10_000
    n_sens: int = 2000  # test images the sensitivities are averaged over
    seed: int = 0


QUICK = dict(epochs=2, n_train=2000, n_test=1000, n_eval_train=1000, n_sens=300)
RULES = dict(model=one_of(architectures(CIFAR)), epochs=positive, batch_sizes=each_positive, batch_lr=positive,
             lrs=each_positive, lr_batch=positive, weight_decay=non_negative, n_train=non_negative, n_test=non_negative,
             n_eval_train=positive, n_sens=positive, seed=non_negative)


def sweep_runs(cfg, sweep: str) -> list[recipes.CifarRun]:
    """The trained models of one sweep ('batch' or 'lr'); sharpness asks for the same ones."""
    run = lambda batch, lr: recipes.CifarRun(cfg.model, cfg.epochs, batch, lr, cfg.weight_decay, 0, 0.1, cfg.n_train,
                                             cfg.n_test, cfg.n_eval_train, cfg.seed)
    if sweep == "batch":
        return [run(b, cfg.batch_lr) for b in cfg.batch_sizes]
    return [run(cfg.lr_batch, lr) for lr in cfg.lrs]


def measure(cfg: Config, ctx, sweep: str) -> list[dict]:
    rows = []
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    for r in sweep_runs(cfg, sweep):
        out = recipes.train_cifar(r, ctx, desc=f"{ID} batch {r.batch_size} lr {r.lr:g}")
        row = {"sweep": sweep, "batch": r.batch_size, "lr": r.lr, "steps": int(out["steps"]),
               "diverged_epoch": int(out["diverged_epoch"]),
               **{k: float(out[f"final_{k}"]) for k in ("train_loss", "test_loss", "train_acc", "test_acc")}}
        if recipes.diverged(out):
            row |= {"jacobian": np.nan, "loss_grad": np.nan}
        else:
            _, _, test = recipes.splits(r, ctx)
            sens = test.subset(cfg.n_sens, cfg.seed + 2)
            row["jacobian"], row["loss_grad"] = analysis.sensitivities(
                ens, recipes.stacked_params([out], ctx.device), sens.x, sens.y, recipes.CIFAR_TRANSFORM)
        rows.append(row)
    return rows


def run(cfg: Config, ctx) -> Results:
    rows = measure(cfg, ctx, "batch") + measure(cfg, ctx, "lr")
    t = pd.DataFrame(rows)
    return Results(values={"config": asdict(cfg), "steps": int(t["steps"].sum())}, tables={"runs": t})
