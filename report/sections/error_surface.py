"""Report section. HW1-2 bonus error surface: the loss around a trained minimum, along filter-normalised random directions and
in the plane of the optimisation path's top-2 PCA directions."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import LogLocator, ScalarFormatter

from hw1core import models
from hw1core.experiments.error_surface import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Bonus: visualise the error surface"
PART = "HW1-2 Optimization"

QUESTIONS = [
    Question("Describe the method and comment", "bonus 1",
             ["setup", "fig:random", "fig:pca", "table:surface", "findings"]),
]
FIGURES = ("random", "pca")
TABLES = ("surface",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params) on CIFAR-10, Adam lr {cfg.lr:g}, "
                  f"weight decay {cfg.weight_decay:g}, batch {cfg.batch_size}, {cfg.epochs} epochs, seed {cfg.seed}; "
                  "weights recorded after every epoch"),
        ("Random directions", "two Gaussian directions, each filter (conv output channel or linear row) rescaled to "
                              "the norm of the trained weights' filter; bias directions zero (Li et al. 2018); "
                              f"grid {cfg.grid}×{cfg.grid} over [−{cfg.span:g}, {cfg.span:g}]²"),
        ("PCA plane", "the top-2 principal directions of the recorded weights minus the final weights; the path is "
                      "projected on them and the loss is evaluated on a grid covering it"),
        ("Loss", f"the loss the model trained on, cross-entropy, on {cfg.n_eval:,} of its own training images "
                 "(a fixed subset of the images it was fitted to), in evaluation mode, without augmentation and "
                 "without the weight-decay term; the grid is evaluated many points at a time as one stacked model"),
    ]


def contour(fig, ax, x, y, z, levels: int = 25) -> None:
    """Filled contours of the loss on a log colour scale, with a colour bar in cross-entropy units."""
    z = np.clip(z, 1e-8, None)
    steps = np.geomspace(np.nanmin(z), np.nanmax(z) * (1 + 1e-9), levels)
    cs = ax.contourf(x, y, z.T, levels=steps, cmap="viridis", norm=LogNorm())
    ax.contour(x, y, z.T, levels=steps, colors="white", linewidths=0.3, alpha=0.5)
    bar = fig.colorbar(cs, ax=ax, label="training cross-entropy (log colour scale)")
    bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    bar.ax.yaxis.set_major_formatter(ScalarFormatter())


def figures(res: Results) -> list[FigureSpec]:
    a = res.arrays
    fig, (ax,) = plots.new_figure(width=5.6, height=4.6)
    contour(fig, ax, a["axis"], a["axis"], a["random"])
    ax.plot(0, 0, "*", color="red", markersize=14, label="trained weights")
    mn = res.values["grid_min_at"]
    ax.plot(*mn, "x", color="white", markersize=9, label="grid minimum")
    ax.set(xlabel="α (direction 1, filter-normalised)", ylabel="β (direction 2)", title="Loss around the trained weights")
    ax.legend(fontsize=7, loc="upper right")
    figs = [FigureSpec("random", "Training loss (cross-entropy on the model's own training images) at "
                                 "θ* + α·d₁ + β·d₂ for two filter-normalised random directions (log colour scale).", fig)]
    fig, (ax,) = plots.new_figure(width=5.6, height=4.6)
    contour(fig, ax, a["a_axis"], a["b_axis"], a["pca"])
    p = a["path"]
    ax.plot(p[:, 0], p[:, 1], "-o", color="red", markersize=3, linewidth=1.2, label="optimisation path")
    ax.plot(p[0, 0], p[0, 1], "o", color="white", markersize=7, markeredgecolor="red", label="initialisation")
    ax.plot(0, 0, "*", color="red", markersize=14, label="final weights")
    evr = res.values["evr"]
    ax.set(xlabel=f"PC 1 ({evr[0]:.1%})", ylabel=f"PC 2 ({evr[1]:.1%})", title="Optimisation path in its PCA plane")
    ax.legend(fontsize=7, loc="best")
    figs.append(FigureSpec("pca", "The optimisation path (one point per epoch) projected on its top-2 PCA directions, "
                                  "over the training loss (the same images) in that plane.", fig))
    return figs


def tables(res: Results) -> list[TableSpec]:
    return [TableSpec("surface", "The loss surface in numbers (random-direction grid).", res.tables["surface"])]


def findings(res: Results) -> list[Finding]:
    v = res.values
    dist = float(np.hypot(*v["grid_min_at"]))
    out = [Finding("Along the random directions the loss rises from {c:sig} at the trained weights to {b:sig} on "
                   "average at the grid's border ({r:ratio}) and {m:sig} at worst: {what}.",
                   {"c": v["center_loss"], "b": v["border_mean"], "r": v["border_mean"] / v["center_loss"],
                    "m": v["grid_max"], "what": "the trained weights sit in a basin" if v["border_mean"] > v["center_loss"]
                    else "the surface is not a basin around the trained weights at this scale"})]
    if v["grid_min"] < v["center_loss"]:
        out.append(Finding("The lowest grid point ({g:sig}, {drop:pct} below the trained weights' {c:sig}) lies at "
                           "(α, β) = ({a:sig}, {b:sig}), at distance {d:sig}: in this 2-D slice the trained weights "
                           "are not the lowest point of this loss, which leaves out augmentation and weight decay.",
                           {"g": v["grid_min"], "c": v["center_loss"], "drop": 1 - v["grid_min"] / v["center_loss"],
                            "a": v["grid_min_at"][0], "b": v["grid_min_at"][1], "d": dist}))
    else:
        out.append(Finding("The trained weights are the lowest point of the grid ({g:sig}).", {"g": v["grid_min"]}))
    out.append(Finding("Two PCA directions hold {e:pct} of the path's variance, so the path is close to planar and "
                       "the second figure shows it faithfully." if sum(v["evr"]) > 0.8 else
                       "Two PCA directions hold only {e:pct} of the path's variance: the projection flattens part of "
                       "the path.", {"e": sum(v["evr"])}))
    return out


def headline(res: Results) -> dict:
    v = res.values
    return {"center_loss": v["center_loss"], "border_mean_loss": v["border_mean"], "grid_max_loss": v["grid_max"],
            "grid_min_loss": v["grid_min"], "pca_variance": sum(v["evr"])}
