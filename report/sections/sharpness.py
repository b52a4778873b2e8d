"""Report section. HW1-3 bonus: ε-sharpness (Keskar et al. 2017) of the batch-size models, next to their sensitivity."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core.experiments.sharpness import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec, by_row

TITLE = "Bonus: a flatness measure (ε-sharpness)"
PART = "HW1-3 Generalization"

QUESTIONS = [Question("Describe the metric and comment", "bonus", ["setup", "fig:sharpness", "table:sharpness",
                                                                   "findings"])]
FIGURES = ("sharpness",)
TABLES = ("sharpness",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Models", f"the batch-size models of the sensitivity section ({cfg.model}, batch "
                   f"{', '.join(map(str, cfg.batch_sizes))}, lr {cfg.batch_lr:g}, {cfg.epochs} epochs)"),
        ("Metric", "φ = 100·(max over the box |δᵢ| ≤ ε(|θᵢ|+1) of L(θ+δ) − L(θ)) / (1 + L(θ)), "
                   f"ε = {', '.join(f'{e:g}' for e in cfg.eps)}; L = cross-entropy on {cfg.n_sharp:,} training images, "
                   "evaluation mode"),
        ("Solver", f"projected sign-gradient ascent, {cfg.ascent_steps} steps of a quarter of the box half-width, "
                   "clamped to the box, best loss kept (Keskar et al. used L-BFGS-B and released no code); all models "
                   "of the sweep at once as one stacked model"),
    ]


def figures(res: Results) -> list[FigureSpec]:
    t = res.tables["models"].sort_values("batch")
    t = t[~t["diverged"]]
    eps = res.values["config"]["eps"]
    fig, (ax1, ax2) = plots.new_figure(2, height=3.4)
    for c, e in zip(plots.COLORS, eps):
        ax1.plot(t["batch"], t[f"sharpness_{e:g}"], "o-", color=c, label=f"ε = {e:g}")
    ax1.set(xscale="log", xlabel="batch size (log)", ylabel="ε-sharpness φ", title="Sharpness")
    ax1.legend(fontsize=8)
    ax2.plot(t["batch"], t["jacobian"], "^-", color=plots.COLORS[2], label="Jacobian sensitivity (a)")
    ax2.set(xscale="log", xlabel="batch size (log)", ylabel="sensitivity", title="Sensitivity")
    ax2.legend(fontsize=8)
    return [FigureSpec("sharpness", "ε-sharpness (left) and Jacobian sensitivity (right) of the models trained with "
                                    "each batch size.", fig)]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["models"].sort_values("batch")
    eps = res.values["config"]["eps"]
    frame = pd.DataFrame({"batch": t["batch"], "train loss": t["train_loss"], "test loss": t["test_loss"],
                          **{f"φ (ε = {e:g})": t.get(f"sharpness_{e:g}", np.nan) for e in eps},
                          "Jacobian sensitivity": t["jacobian"] if "jacobian" in t else np.nan})
    return [TableSpec("sharpness", "ε-sharpness and sensitivity per batch size.", frame)]


def findings(res: Results) -> list[Finding]:
    t = res.tables["models"]
    t = t[~t["diverged"]].sort_values("batch")
    out = []
    logb = np.log(t["batch"])
    for e in res.values["config"]["eps"]:
        col = t[f"sharpness_{e:g}"]
        r = logb.corr(col, method="spearman")
        out.append(Finding("At ε = {e}, sharpness goes from {lo:sig} (batch {b0:int}) to {hi:sig} (batch {b1:int}); "
                           "Spearman correlation with batch size {r:sig}: {verdict}.",
                           {"e": f"{e:g}", "lo": col.iloc[0], "b0": t["batch"].iloc[0], "hi": col.iloc[-1],
                            "b1": t["batch"].iloc[-1], "r": r,
                            "verdict": "larger batches end in sharper minima, as Keskar et al. (2017) report" if r > 0.3
                            else "larger batches end in flatter minima here, contrary to Keskar et al. (2017)"
                            if r < -0.3 else "no clear trend with batch size in these runs"}))
    gap = t["test_loss"] - t["train_loss"]
    r = t[f"sharpness_{res.values['config']['eps'][0]:g}"].corr(gap, method="spearman")
    out.append(Finding("Across the batch sizes, sharpness and the generalisation gap (test − train loss) have a "
                       "Spearman correlation of {r:sig}: {what}.",
                       {"r": r, "what": "sharper models generalised worse, in line with Keskar et al." if r > 0.3 else
                        "sharper models generalised better here, so sharpness does not explain the gap in these runs"
                        if r < -0.3 else "no clear relation in these runs"}))
    return out


def headline(res: Results) -> dict:
    t = res.tables["models"]
    return by_row(t, ["batch"], [c for c in t.columns if c.startswith("sharpness_")] + ["jacobian"])
