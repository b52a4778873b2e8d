"""Report section. HW1-2 bonus error surface: the loss around a trained minimum, along filter-normalised random directions and
in the plane of the optimisation path's top-2 PCA directions."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import LogLocator, ScalarFormatter

from hw1core import models
from hw1core.experiments.error_surface import Config, Result

from .. import plots
from ..claims import exact, over_seeds, pair
from ..format import fmt_estimate, train_text
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Bonus: visualise the error surface"
PART = "HW1-2 Optimisation"

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
        ("Model", f"{cfg.model} ({models.param_count_of(cfg.model):,} params) on CIFAR-10, "
                  f"{train_text(cfg.train)}; weights recorded after every epoch"),
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


def center_loss(grid: np.ndarray) -> float:
    """The loss at the grid's middle point: the trained weights (α = β = 0; the grid has an odd size)."""
    return float(grid[grid.shape[0] // 2, grid.shape[1] // 2])


def grid_minimum(grid: np.ndarray, axis: np.ndarray) -> tuple[float, float, float]:
    """The lowest loss on the random-direction grid and the (α, β) where it lies."""
    i, j = np.unravel_index(np.nanargmin(grid), grid.shape)
    return float(grid[i, j]), float(axis[i]), float(axis[j])


def border_values(grid: np.ndarray) -> np.ndarray:
    """The finite losses on the grid's outermost rows and columns (corners counted twice)."""
    edge = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
    return edge[np.isfinite(edge)]


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    fig, (ax,) = plots.new_figure(width=5.6, height=4.6)
    contour(fig, ax, res.axis, res.axis, res.random)
    ax.plot(0, 0, "*", color="red", markersize=14, label="trained weights")
    _, a_min, b_min = grid_minimum(res.random, res.axis)
    ax.plot(a_min, b_min, "x", color="white", markersize=9, label="grid minimum")
    ax.set(xlabel="α (direction 1, filter-normalised)", ylabel="β (direction 2)", title="Loss around the trained weights")
    ax.legend(fontsize=7, loc="upper right")
    figs = [FigureSpec("random", "Training loss (cross-entropy on the model's own training images) at "
                                 "θ* + α·d₁ + β·d₂ for two filter-normalised random directions (log colour scale).", fig)]
    fig, (ax,) = plots.new_figure(width=5.6, height=4.6)
    contour(fig, ax, res.a_axis, res.b_axis, res.pca)
    p = res.path
    ax.plot(p[:, 0], p[:, 1], "-o", color="red", markersize=3, linewidth=1.2, label="optimisation path")
    ax.plot(p[0, 0], p[0, 1], "o", color="white", markersize=7, markeredgecolor="red", label="initialisation")
    ax.plot(0, 0, "*", color="red", markersize=14, label="final weights")
    evr = res.evr
    ax.set(xlabel=f"PC 1 ({evr[0]:.1%})", ylabel=f"PC 2 ({evr[1]:.1%})", title="Optimisation path in its PCA plane")
    ax.legend(fontsize=7, loc="best")
    figs.append(FigureSpec("pca", "The optimisation path (one point per epoch) projected on its top-2 PCA directions, "
                                  "over the training loss (the same images) in that plane. The contours are the loss "
                                  "at θ* + a·u₁ + b·u₂, not the loss the path met: each point of the path also lies "
                                  f"off the plane, by the {1 - float(res.evr.sum()):.1%} of its variance outside it.",
                           fig))
    return figs


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    g = res.random
    low, a_min, b_min = grid_minimum(g, res.axis)
    frame = pd.DataFrame([
        {"quantity": "loss at the trained weights", "value": center_loss(g)},
        {"quantity": "lowest loss on the grid", "value": low},
        {"quantity": "… at (α, β)", "value": f"({a_min:.2f}, {b_min:.2f})"},
        {"quantity": "mean loss on the grid's border (± se over its points)",
         "value": fmt_estimate(over_seeds(border_values(g), "grid points"))},
        {"quantity": "variance of the path in its PCA plane", "value": f"{res.evr.sum():.1%}"},
    ])
    return [TableSpec("surface", "The loss surface in numbers (random-direction grid).", frame)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    g = res.random
    center = center_loss(g)
    low, a_min, b_min = grid_minimum(g, res.axis)
    # Every grid point is evaluated on the same images, so the centre is exact for this slice; the border's spread
    # over its points is what a "rises" must clear.
    edge = over_seeds(border_values(g), "grid points")
    border = edge.value
    rise = pair("loss on the random plane", ("grid border", "trained weights"), edge,
                exact(center))
    what = {">": "the trained weights sit in a basin",
            "<": "the surface is not a basin around the trained weights at this scale"}.get(
        rise.relation, "the border's losses spread too widely to call the surface a basin at this scale")
    out = [Finding("basin", "Along the random directions the loss goes from {c:sig} at the trained weights to {b} "
                   "at the grid's border (mean ± standard error over its {n:int} points; {r:ratio}) and {m:sig} at "
                   "worst: " + what + ".",
                   {"c": center, "b": fmt_estimate(edge), "n": edge.n, "r": border / center,
                    "m": float(np.nanmax(g))}, [rise])]
    # Points of one slice, evaluated on the same images: their difference has no sampling error between them.
    if low < center:
        lowest = pair("loss on the random plane", ("lowest grid point", "trained weights"), exact(low), exact(center))
        out.append(Finding("grid-minimum",
                           "The lowest grid point ({g:sig}, {drop:pct} below the trained weights' {c:sig}) lies at "
                           "(α, β) = ({a:sig}, {b:sig}), at distance {d:sig}: in this 2-D slice the trained weights "
                           "are not the lowest point of this loss, which leaves out augmentation and weight decay.",
                           {"g": low, "c": center, "drop": 1 - low / center, "a": a_min, "b": b_min,
                            "d": float(np.hypot(a_min, b_min))}, [lowest]))
    else:
        # The same subjects as above (the grid's lowest point against the trained weights), which here coincide.
        out.append(Finding("grid-minimum", "The trained weights are the lowest point of the grid ({g:sig}).",
                           {"g": low}, [pair("loss on the random plane", ("lowest grid point", "trained weights"),
                                             exact(low), exact(center))]))
    share = float(res.evr.sum())
    out.append(Finding("pca-variance",
                       ("Two PCA directions hold {e:pct} of the path's variance, so the figure places the path's "
                        "points faithfully. " if share > 0.8 else
                        "Two PCA directions hold only {e:pct} of the path's variance: the projection flattens part of "
                        "the path. ") +
                       "Its contours are the loss in the plane through the final weights, not the loss along the "
                       "path: the weights the path passed through differ from their projections in the other "
                       "directions, so a contour under a point of the path is not that point's loss.",
                       {"e": share}))
    return out
