"""Compute stage. HW1-2 bonus error surface: the loss around a trained minimum, along filter-normalised random directions and
in the plane of the optimisation path's top-2 PCA directions."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import analysis, data, engine
from ..results import Results
from ..rules import CIFAR, architectures, non_negative, odd_at_least, one_of, positive

ID = "error-surface"


@dataclass
class Config:
    model: str = "CNN-shallow"
    epochs: int = 25
    batch_size: int = 64
    lr: float = 4e-4
    weight_decay: float = 1e-4
    n_train: int = 0
    n_eval: int = 10_000  # training images the surface is evaluated on
    grid: int = 41
    span: float = 1.0  # random-direction grid covers [−span, span]²
    seed: int = 0


QUICK = dict(epochs=3, n_train=3000, n_eval=300, grid=11)
RULES = dict(model=one_of(architectures(CIFAR)), epochs=positive, batch_size=positive, lr=positive,
             weight_decay=non_negative, n_train=non_negative, n_eval=positive, grid=odd_at_least(3), span=positive,
             seed=non_negative)


def training_sets(cfg: Config, train: data.Split) -> tuple[data.Split, data.Split]:
    """The images the model trains on, and the subset of those same images the surfaces are evaluated on."""
    fit = train.subset(cfg.n_train or None, cfg.seed)
    return fit, fit.subset(cfg.n_eval, cfg.seed + 1)


def surfaces(cfg: Config, ctx) -> dict:
    fit, ev = training_sets(cfg, ctx.dataset("CIFAR-10")[0])
    transform = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    path = [ens.flat_params()[0].clone()]
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay)
    hist = engine.train(ens, engine.Task(fit.x, fit.y, transform=transform), tc, desc=f"{ID} {cfg.model}", seed=cfg.seed,
                        epoch_hook=lambda e, ens: path.append(ens.flat_params()[0].clone()))
    center = {n: v[0].detach() for n, v in ens.params.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    d1, d2 = (analysis.filter_normalised_direction(center, gen) for _ in range(2))
    axis = np.linspace(-cfg.span, cfg.span, cfg.grid)
    random = analysis.loss_grid(ens, center, d1, d2, axis, axis, ev.x, ev.y, transform)

    rel = torch.stack(path) - path[-1]
    _, evr, comps = analysis.pca_2d(rel.cpu().numpy())
    v = torch.tensor(comps, dtype=rel.dtype, device=rel.device)
    coords = (rel @ v.T).cpu().numpy()  # projections of θ_t − θ_final: the final weights sit at the origin
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.25 * (hi - lo)
    a_axis, b_axis = np.linspace(lo[0] - pad[0], hi[0] + pad[0], cfg.grid), np.linspace(lo[1] - pad[1], hi[1] + pad[1], cfg.grid)
    u1, u2 = (analysis.unflatten(v[i], ens.params) for i in range(2))
    pca = analysis.loss_grid(ens, center, u1, u2, a_axis, b_axis, ev.x, ev.y, transform)
    return {"random": random, "axis": axis, "pca": pca, "a_axis": a_axis, "b_axis": b_axis, "path": coords,
            "evr": evr, "train_loss": hist.train_loss[0], "steps": np.array(hist.steps)}


def run(cfg: Config, ctx) -> Results:
    out = ctx.part("surfaces", lambda: surfaces(cfg, ctx))
    g, mid = out["random"], cfg.grid // 2
    i, j = np.unravel_index(np.nanargmin(g), g.shape)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]), "evr": out["evr"].tolist(),
                          "center_loss": float(g[mid, mid]), "grid_min": float(g[i, j]),
                          "grid_min_at": [float(out["axis"][i]), float(out["axis"][j])],
                          "border_mean": float(np.nanmean(border)), "grid_max": float(np.nanmax(g))},
                  arrays={k: out[k] for k in ("random", "axis", "pca", "a_axis", "b_axis", "path")})
    res.tables["surface"] = pd.DataFrame([
        {"quantity": "loss at the trained weights", "value": g[mid, mid]},
        {"quantity": "lowest loss on the grid", "value": g[i, j]},
        {"quantity": "… at (α, β)", "value": f"({out['axis'][i]:.2f}, {out['axis'][j]:.2f})"},
        {"quantity": "mean loss on the grid's border", "value": float(np.nanmean(border))},
        {"quantity": "variance of the path in its PCA plane", "value": f"{out['evr'].sum():.1%}"},
    ])
    return res
