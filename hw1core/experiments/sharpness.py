"""Compute stage. HW1-3 bonus: ε-sharpness (Keskar et al. 2017) of the batch-size models, next to their sensitivity."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from .. import analysis, engine, recipes
from ..results import Results
from ..rules import each_positive, positive
from . import sensitivity

ID = "sharpness"


@dataclass
class Config(sensitivity.Config):
    """Sensitivity's training fields (so both analyse the same trained models) plus the sharpness settings."""
    eps: tuple = (1e-3, 5e-4)
    ascent_steps: int = 20
    n_sharp: int = 2000  # training images the loss in the box is measured on


QUICK = sensitivity.QUICK | dict(ascent_steps=8, n_sharp=500)
RULES = sensitivity.RULES | dict(eps=each_positive, ascent_steps=positive, n_sharp=positive)


def run(cfg: Config, ctx) -> Results:
    runs = sensitivity.sweep_runs(cfg, "batch")
    outs = [recipes.train_cifar(r, ctx, desc=f"{ID} batch {r.batch_size}") for r in runs]
    ok = [i for i, o in enumerate(outs) if not recipes.diverged(o)]
    train, _, test = recipes.splits(runs[0], ctx)
    sharp_set = train.subset(cfg.n_sharp, cfg.seed + 3)
    sens_set = test.subset(cfg.n_sens, cfg.seed + 2)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    stack = recipes.stacked_params([outs[i] for i in ok], ctx.device)
    rows = [{"batch": r.batch_size, "train_loss": float(o["final_train_loss"]), "test_loss": float(o["final_test_loss"]),
             "diverged": recipes.diverged(o)} for r, o in zip(runs, outs)]
    for eps in cfg.eps:
        phi = analysis.eps_sharpness(ens, stack, sharp_set.x, sharp_set.y, recipes.CIFAR_TRANSFORM, eps, cfg.ascent_steps)
        for j, i in enumerate(ok):
            rows[i][f"sharpness_{eps:g}"] = float(phi[j])
    for i in ok:
        one = {n: v[ok.index(i):ok.index(i) + 1] for n, v in stack.items()}
        rows[i]["jacobian"], _ = analysis.sensitivities(ens, one, sens_set.x, sens_set.y, recipes.CIFAR_TRANSFORM)
    return Results(values={"config": asdict(cfg), "steps": sum(int(o["steps"]) for o in outs)},
                   tables={"models": pd.DataFrame(rows)})
