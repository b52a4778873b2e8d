"""Report section. HW1-3 bonus: ε-sharpness (Keskar et al. 2017) of the batch-size models that the sensitivity
experiment trained, beside the sensitivities it measured."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core.experiments.sharpness import Config, Result

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec, name_part

TITLE = "Bonus: a flatness measure (ε-sharpness)"
PART = "HW1-3 Generalization"

QUESTIONS = [Question("Describe the metric and comment", "bonus", ["setup", "fig:sharpness", "table:sharpness",
                                                                   "findings"])]
FIGURES = ("sharpness",)
TABLES = ("sharpness",)

TREND = 0.3  # a Spearman correlation beyond ±this counts as a trend


def architectures(cfg: Config) -> list[str]:
    return []  # the models are sensitivity's: its setup shows their architecture


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Models", "the batch-size models of the sensitivity section (its setup gives the architecture, the batch "
                   "sizes, the learning rate and the epochs); no model is trained here"),
        ("Metric", "φ = 100·(max over the box |δᵢ| ≤ ε(|θᵢ|+1) of L(θ+δ) − L(θ)) / (1 + L(θ)), "
                   f"ε = {', '.join(f'{e:g}' for e in cfg.eps)}; L = cross-entropy on {cfg.n_sharp:,} training images, "
                   "evaluation mode"),
        ("Solver", f"projected sign-gradient ascent, {cfg.ascent_steps} steps of a quarter of the box half-width, "
                   "clamped to the box, best loss kept (Keskar et al. used L-BFGS-B and released no code); all models "
                   "of the sweep at once as one stacked model"),
    ]


def sharpness_column(eps: float) -> str:
    return f"sharpness_{eps:g}"


def per_model(cfg: Config, res: Result) -> pd.DataFrame:
    """sensitivity's batch-size models with one φ column per ε (`sharpness_column`), smallest batch first."""
    t = res.models.assign(**{sharpness_column(e): res.sharpness[i] for i, e in enumerate(cfg.eps)})
    return t.sort_values("batch")


def trained(cfg: Config, res: Result) -> pd.DataFrame:
    """`per_model` without the models that diverged (they have no sharpness)."""
    t = per_model(cfg, res)
    return t[t["diverged_epoch"] == 0]


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    t = trained(cfg, res)
    fig, (ax1, ax2) = plots.new_figure(1, 2, height=3.4)
    for c, e in zip(plots.COLORS, cfg.eps):
        ax1.plot(t["batch"], t[sharpness_column(e)], "o-", color=c, label=f"ε = {e:g}")
    ax1.set(xscale="log", xlabel="batch size (log)", ylabel="ε-sharpness φ", title="Sharpness")
    ax1.legend(fontsize=8)
    ax2.plot(t["batch"], t["jacobian"], "^-", color=plots.COLORS[2], label="Jacobian sensitivity (a)")
    ax2.set(xscale="log", xlabel="batch size (log)", ylabel="sensitivity", title="Sensitivity")
    ax2.legend(fontsize=8)
    return [FigureSpec("sharpness", "ε-sharpness (left) and Jacobian sensitivity (right) of the models trained with "
                                    "each batch size.", fig)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = per_model(cfg, res)
    frame = pd.DataFrame({"batch": t["batch"], "train loss": t["train_loss"], "test loss": t["test_loss"],
                          **{f"φ (ε = {e:g})": t[sharpness_column(e)] for e in cfg.eps},
                          "Jacobian sensitivity": t["jacobian"]})
    return [TableSpec("sharpness", "ε-sharpness and sensitivity per batch size.", frame)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = trained(cfg, res)
    if t.empty:
        return []
    out = []
    logb = np.log(t["batch"])
    for e in cfg.eps:
        col = t[sharpness_column(e)]
        r = float(logb.corr(col, method="spearman"))
        verdict = ("larger batches end in sharper minima, as Keskar et al. (2017) report" if r > TREND else
                   "larger batches end in flatter minima here, contrary to Keskar et al. (2017)" if r < -TREND else
                   "no clear trend with batch size in these runs")
        out.append(Finding(f"sharpness-vs-batch.{name_part(e)}",
                           "At ε = {e}, sharpness goes from {lo:sig} (batch {b0:int}) to {hi:sig} (batch {b1:int}); "
                           "Spearman correlation with batch size {r:sig}: " + verdict + ".",
                           {"e": f"{e:g}", "lo": float(col.iloc[0]), "b0": int(t["batch"].iloc[0]),
                            "hi": float(col.iloc[-1]), "b1": int(t["batch"].iloc[-1]), "r": r}))
    gap = t["test_loss"] - t["train_loss"]
    r = float(t[sharpness_column(cfg.eps[0])].corr(gap, method="spearman"))
    what = ("sharper models generalised worse, in line with Keskar et al. (2017)" if r > TREND else
            "sharper models generalised better here, so sharpness does not explain the gap in these runs"
            if r < -TREND else "no clear relation in these runs")
    out.append(Finding("sharpness-vs-gap", "Across the batch sizes, sharpness and the generalisation gap (test − train "
                                           "loss) have a Spearman correlation of {r:sig}: " + what + ".",
                       {"r": r}))
    return out
