"""Report section. HW1-2 minimal ratio: 100 runs driven to zero gradient; exact Hessian eigenvalues at each end point."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import data, models
from hw1core.experiments.minimal_ratio import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "What happens when the gradient is almost zero"
PART = "HW1-2 Optimization"

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
    p = models.param_count(models.build(cfg.model))
    return [
        ("Task", f"{cfg.function}(x) = {data.FUNCTIONS[cfg.function][0]}, {cfg.n_train} points on [−1, 1], MSE"),
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
        ("Why so many are near zero", "LeakyReLU is positively homogeneous: scaling a hidden unit's incoming weights "
                                      "by c > 0 and its outgoing weights by 1/c leaves the function unchanged, so "
                                      "each hidden unit gives a direction of (nearly) zero curvature at a critical "
                                      "point. A ratio of 1 therefore needs every such direction above τ; a ratio "
                                      "below 1 from near-zero eigenvalues is a flat direction, not a saddle. Only "
                                      "negative eigenvalues below −τ show a saddle"),
    ]


def figures(res: Results) -> list[FigureSpec]:
    t = res.tables["runs"]
    fig, (ax,) = plots.new_figure(width=6.0, height=4.2)
    for met, style in ((True, dict(marker="o", color=plots.COLORS[0])), (False, dict(marker="x", color=plots.COLORS[1]))):
        sel = t[t["met_tol"] == met]
        ax.scatter(sel["ratio"], sel["loss"], s=18, linewidths=1, alpha=0.8, label=f"{'met' if met else 'missed'} "
                   f"the tolerance ({len(sel)})", **style)
    ax.set(xlabel="minimal ratio (share of Hessian eigenvalues above τ)", ylabel="MSE at the end point (log)",
           yscale="log", title=f"{len(t)} runs at (near-)zero gradient")
    ax.legend(fontsize=8)
    tol = res.values["config"]["gn_tol"]
    return [FigureSpec("scatter", f"Minimal ratio against loss, one point per run; ● ‖∇L‖ < {tol:g} reached, × step "
                                  "limit hit first.", fig)]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["runs"]
    rows = []
    for label, sel in (("met the tolerance", t[t["met_tol"]]), ("missed it", t[~t["met_tol"]]), ("all", t)):
        if len(sel):
            rows.append({"runs": label, "count": len(sel),
                         "loss range": f"{sel['loss'].min():.3g} – {sel['loss'].max():.3g}",
                         "minimal ratio range": f"{sel['ratio'].min():.3f} – {sel['ratio'].max():.3f}",
                         "near-zero |λ| ≤ τ": f"{sel['near_zero'].min()} – {sel['near_zero'].max()}",
                         "λ < −τ": f"{sel['negative'].min()} – {sel['negative'].max()}",
                         "ratio among |λ| > τ": f"{sel['ratio_nonzero'].min():.3f} – {sel['ratio_nonzero'].max():.3f}",
                         "‖∇L‖ range": f"{sel['grad_norm'].min():.2g} – {sel['grad_norm'].max():.2g}"})
    return [TableSpec("summary", f"Runs that reached the gradient tolerance and the ranges of their end points "
                                 f"({res.values['params']} parameters, so {res.values['params']} eigenvalues each).",
                      pd.DataFrame(rows))]


def findings(res: Results) -> list[Finding]:
    t, cfg = res.tables["runs"], res.values["config"]
    out = [Finding("{met:int} of {n:int} runs brought the gradient norm below {tol}; minimal ratios span {lo:sig} to "
                   "{hi:sig}. On average {z:sig} of the {p:int} eigenvalues per run are near zero (|λ| ≤ τ), so the "
                   "ratio mostly counts flat directions; among the eigenvalues above τ in size the share that is "
                   "positive spans {nlo:sig} to {nhi:sig}.",
                   {"met": int(t["met_tol"].sum()), "n": len(t), "tol": f"{cfg['gn_tol']:g}", "lo": t["ratio"].min(),
                    "hi": t["ratio"].max(), "z": t["near_zero"].mean(), "p": res.values["params"],
                    "nlo": t["ratio_nonzero"].min(), "nhi": t["ratio_nonzero"].max()})]
    minima, saddles = int((t["negative"] == 0).sum()), int((t["negative"] > 0).sum())
    out.append(Finding("{m:int} runs have no eigenvalue below −τ (a minimum up to the flat directions: no descent "
                       "direction was found) and {s:int} have at least one (a saddle point); {strict:int} runs have a "
                       "ratio of 1, every eigenvalue above τ.",
                       {"m": minima, "s": saddles, "strict": int((t["ratio"] >= 1).sum())}))
    rho = t["ratio"].corr(np.log(t["loss"]), method="spearman")
    if np.isfinite(rho):
        out.append(Finding("The Spearman correlation between minimal ratio and the log of the loss is {r:sig}: {what}.",
                           {"r": rho, "what": "runs with a higher ratio reached lower loss, as the homework expects"
                            if rho < -0.2 else "a higher ratio came with higher loss, contrary to the homework's "
                            "expectation" if rho > 0.2 else "no clear relation in these runs"}))
    return out


def headline(res: Results) -> dict:
    t = res.tables["runs"]
    return {"runs": len(t), "runs_met_tol": int(t["met_tol"].sum()), "ratio_min": t["ratio"].min(),
            "ratio_max": t["ratio"].max(), "runs_ratio_1": int((t["ratio"] >= 1).sum()),
            "near_zero_mean": t["near_zero"].mean(), "runs_without_negative": int((t["negative"] == 0).sum()),
            "ratio_nonzero_min": t["ratio_nonzero"].min(), "ratio_nonzero_max": t["ratio_nonzero"].max(), "loss_min": t["loss"].min(),
            "loss_max": t["loss"].max(), "ratio_loss_spearman": t["ratio"].corr(np.log(t["loss"]), method="spearman")}
