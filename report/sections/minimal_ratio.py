"""Report section. HW1-2 minimal ratio: 100 runs driven to zero gradient; exact Hessian eigenvalues at each end point."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hw1core import models
from hw1core.experiments.minimal_ratio import Config, Result

from .. import plots
from ..claims import Trend, correlation, paired, trend
from ..layers import FORMULAS
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "What happens when the gradient is almost zero"
PART = "HW1-2 Optimisation"

QUESTIONS = [
    Question("How the zero-gradient weights were reached and how the minimal ratio is defined", "2", ["setup"]),
    Question("100 runs: minimal ratio against loss", "2", ["fig:scatter", "table:summary"]),
    Question("Comment on the results", "1", ["findings"]),
]
FIGURES = ("scatter",)
TABLES = ("summary",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    p = models.param_count_of(cfg.model)
    return [
        ("Task", f"{cfg.function}(x) = {FORMULAS[cfg.function]}, {cfg.n_train} points on [−1, 1], MSE"),
        ("Model", f"{cfg.model} ({p:,} params); {cfg.runs} runs (seeds 0–{cfg.runs - 1}) trained together as one "
                  "stacked model"),
        ("Phase 1", f"{cfg.epochs:,} full-batch Adam steps on the MSE, lr {cfg.lr:g}"),
        ("Phase 2", f"the objective becomes ‖∇θ MSE‖²; full-batch Adam, lr {cfg.gn_lr:g}, until ‖∇θ MSE‖ < "
                    f"{cfg.gn_tol:g} or {cfg.gn_steps:,} steps; a run that meets the tolerance stops there"),
        ("Hessian", f"exact {p}×{p} Hessian of the MSE w.r.t. the flattened parameters at each end point "
                    "(torch.func, reverse over reverse), in float64 on every device, symmetrised; all eigenvalues by "
                    "eigvalsh"),
        ("Minimal ratio", f"the homework's ratio: share of all {p} eigenvalues with λ > τ = {cfg.rel_tol:g}·max|λ|. "
                          "Also given: how many are near zero (|λ| ≤ τ) and the ratio among the rest, "
                          "positive / (positive + negative)"),
        ("Gauss–Newton rank", f"the MSE Hessian is (2/N)·JᵀJ + (2/N)·Σᵢ rᵢ∇²fᵢ, with J the {cfg.n_train}×{p} "
                              "Jacobian of the outputs at the training points and rᵢ the residuals. The first term "
                              "has rank at most the number of independent directions in which the outputs can move; "
                              "the second shrinks with the residuals. Its rank (eigenvalues (2/N)·σᵢ(J)² above the "
                              "same τ) is measured at every end point: a count of near-zero eigenvalues far above "
                              f"{p} minus that rank would need another cause"),
        ("Why it is not the symmetry", "LeakyReLU's rescaling symmetry (a hidden unit's incoming weights × c, its "
                                       "outgoing weights ÷ c) gives at most one flat direction per hidden unit "
                                       f"({hidden_units(cfg.model)} here). A ratio below 1 from near-zero eigenvalues "
                                       "is a flat direction, not a saddle; only eigenvalues below −τ show a saddle"),
    ]


def hidden_units(arch: str) -> int:
    """The units of every hidden layer: each can be rescaled without changing the function."""
    layers = [m for m in models.build(arch).modules() if isinstance(m, torch.nn.Linear)]
    return sum(layer.out_features for layer in layers[:-1])


def met_tolerance(runs: pd.DataFrame) -> pd.Series:
    """Per run: whether phase 2 brought the gradient norm below the tolerance (reached is its step, 0 = never)."""
    return runs["reached"] > 0


def ratio_loss_trend(runs: pd.DataFrame, ratio: str = "ratio") -> Trend:
    """Spearman's ρ (and p) of a minimal ratio column with the log of the loss over the runs."""
    return trend(runs[ratio], np.log(runs["loss"]))


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    t = res.runs
    met = met_tolerance(t)
    fig, (ax,) = plots.new_figure(width=6.0, height=4.2)
    for hit, style in ((True, dict(marker="o", color=plots.COLORS[0])), (False, dict(marker="x", color=plots.COLORS[1]))):
        sel = t[met == hit]
        ax.scatter(sel["ratio"], sel["loss"], s=18, linewidths=1, alpha=0.8, label=f"{'met' if hit else 'missed'} "
                   f"the tolerance ({len(sel)})", **style)
    ax.set(xlabel="minimal ratio (share of Hessian eigenvalues above τ)", ylabel="MSE at the end point (log)",
           yscale="log", title=f"{len(t)} runs at (near-)zero gradient")
    ax.legend(fontsize=8)
    return [FigureSpec("scatter", f"Minimal ratio against loss, one point per run; ● ‖∇L‖ < {cfg.gn_tol:g} reached, "
                                  "× step limit hit first.", fig)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = res.runs
    met = met_tolerance(t)
    rows = []
    for label, sel in (("met the tolerance", t[met]), ("missed it", t[~met]), ("all", t)):
        if len(sel):
            rows.append({"runs": label, "count": len(sel),
                         "loss range": f"{sel['loss'].min():.3g} – {sel['loss'].max():.3g}",
                         "minimal ratio range": f"{sel['ratio'].min():.3f} – {sel['ratio'].max():.3f}",
                         "near-zero |λ| ≤ τ": f"{sel['near_zero'].min()} – {sel['near_zero'].max()}",
                         "λ < −τ": f"{sel['negative'].min()} – {sel['negative'].max()}",
                         "λ > 0 (raw)": f"{sel['above_zero'].min()} – {sel['above_zero'].max()}",
                         "Gauss–Newton rank": f"{sel['gauss_newton_rank'].min()} – {sel['gauss_newton_rank'].max()}",
                         "ratio among |λ| > τ": f"{sel['ratio_nonzero'].min():.3f} – {sel['ratio_nonzero'].max():.3f}",
                         "‖∇L‖ range": f"{sel['grad_norm'].min():.2g} – {sel['grad_norm'].max():.2g}"})
    return [TableSpec("summary", f"Runs that reached the gradient tolerance and the ranges of their end points "
                                 f"({models.param_count_of(cfg.model)} parameters, so as many eigenvalues each).", pd.DataFrame(rows))]


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = res.runs
    out = [Finding("gradient-tolerance",
                   "{met:int} of {n:int} runs brought the gradient norm below {tol}; minimal ratios span {lo:sig} to "
                   "{hi:sig}. On average {z:sig} of the {p:int} eigenvalues per run are near zero (|λ| ≤ τ), so the "
                   "ratio mostly counts flat directions; among the eigenvalues above τ in size the share that is "
                   "positive spans {nlo:sig} to {nhi:sig}.",
                   {"met": int(met_tolerance(t).sum()), "n": len(t), "tol": f"{cfg.gn_tol:g}",
                    "lo": float(t["ratio"].min()), "hi": float(t["ratio"].max()), "z": float(t["near_zero"].mean()),
                    "p": models.param_count_of(cfg.model), "nlo": float(t["ratio_nonzero"].min()), "nhi": float(t["ratio_nonzero"].max())})]
    p = models.param_count_of(cfg.model)
    flat_directions = p - t["gauss_newton_rank"]
    flat, near_zero = float(flat_directions.mean()), float(t["near_zero"].mean())
    # Paired by run: each run's near-zero count minus the directions its own JᵀJ leaves flat, against none.
    counts = paired("eigenvalues per run", ("near-zero Hessian eigenvalues", "directions (2/N)·JᵀJ leaves flat"),
                    t["near_zero"], flat_directions, "runs")
    if counts.relation == "≈":
        compared = ("the Hessian has {z:sig} near-zero eigenvalues, indistinguishable from that over these runs: the "
                    "fit's Jacobian accounts for them")
    elif counts.relation == "<":
        compared = ("the Hessian has {z:sig} near-zero eigenvalues, {bent:sig} fewer: the residual term "
                    "(2/N)·Σᵢ rᵢ∇²fᵢ curves about that many of the directions JᵀJ leaves flat")
    else:
        compared = "the Hessian has {z:sig} near-zero eigenvalues, more than JᵀJ leaves flat"
    out.append(Finding("gauss-newton-rank",
                       "The Gauss–Newton term (2/N)·JᵀJ has on average {rank:sig} eigenvalues above τ (range "
                       "{rlo:int}–{rhi:int}): the outputs at the {n:int} training points move in only that many "
                       "independent directions, which leaves {flat:sig} of the {p:int} directions without curvature "
                       "from it; " + compared + ". The rescaling symmetry accounts for at most {units:int}. Counted "
                       "without τ, {pos:sig} eigenvalues per run are positive on average ({plo:int}–{phi:int}).",
                       {"rank": float(t["gauss_newton_rank"].mean()), "rlo": int(t["gauss_newton_rank"].min()),
                        "rhi": int(t["gauss_newton_rank"].max()), "flat": flat, "p": p, "z": near_zero,
                        "bent": flat - near_zero, "n": cfg.n_train, "units": hidden_units(cfg.model),
                        "pos": float(t["above_zero"].mean()), "plo": int(t["above_zero"].min()),
                        "phi": int(t["above_zero"].max())}, [counts]))
    minima, saddles = int((t["negative"] == 0).sum()), int((t["negative"] > 0).sum())
    out.append(Finding("minima-and-saddles",
                       "{m:int} runs have no eigenvalue below −τ (a minimum up to the flat directions: no descent "
                       "direction was found) and {s:int} have at least one (a saddle point); {strict:int} runs have a "
                       "ratio of 1, every eigenvalue above τ.",
                       {"m": minima, "s": saddles, "strict": int((t["ratio"] >= 1).sum())}))
    for name, column, among in (("ratio-loss-spearman", "ratio", ""),
                                ("ratio-nonzero-loss-spearman", "ratio_nonzero", " among the eigenvalues above τ")):
        r = ratio_loss_trend(t, column)
        if not np.isfinite(r.rho):
            continue
        what = {"falling": "runs with a higher ratio reached lower loss, as the homework expects",
                "rising": "a higher ratio came with higher loss, contrary to the homework's expectation"}.get(
            r.relation, "no relation in these runs that its p-value can carry")
        out.append(Finding(name, "The Spearman correlation between the minimal ratio" + among + " and the log of the "
                           "loss is {r:sig} over {n:int} runs (p = {p:sig}): " + what + ".",
                           {"r": r.rho, "n": r.n, "p": r.p},
                           [correlation("rank correlation over the runs", "minimal ratio" + among, "log loss", r)]))
    return out
