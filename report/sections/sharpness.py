"""Report section. HW1-3 bonus: ε-sharpness (Keskar et al. 2017) of the models of sensitivity's two batch-size sweeps
(one learning rate, and a rate scaled with the batch), every seed, beside the sensitivities it measured."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hw1core.experiments.sharpness import BATCH_SWEEPS, Config, Result

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec, name_part
from ..claims import COMPARISON_RULE, Trend, correlation, trend, trend_words
from ..training import FAILED_RULE, failed_points, partly_failed_points, run_state, spread_claim, trained

TITLE = "Bonus: a flatness measure (ε-sharpness)"
PART = "HW1-3 Generalisation"

QUESTIONS = [Question("Describe the metric and comment", "bonus", ["setup", "fig:sharpness", "table:sharpness",
                                                                   "findings"])]
FIGURES = ("sharpness",)
TABLES = ("sharpness",)

MIN_MODELS = 3  # a rank correlation over fewer models, or over fewer batch sizes, says nothing
SWEEP_LABELS = {"batch": "fixed lr", "scaled": "scaled lr"}
assert set(SWEEP_LABELS) == set(BATCH_SWEEPS)


def architectures(cfg: Config) -> list[str]:
    return []  # the models are sensitivity's: its setup shows their architecture


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Models", "the two batch-size sweeps of the sensitivity section, every seed: the batch sizes at one learning "
                   "rate (fixed lr), and the same batch sizes with the rate scaled with the batch (scaled lr), meant "
                   "to match their training at equal epochs; its setup gives the architecture, the batch sizes, the "
                   "rates, the epochs and the seeds; no model is trained here"),
        ("Failed runs", FAILED_RULE + "; a model that diverged has no sharpness"),
        ("Metric", "φ = 100·(max over the box |δᵢ| ≤ ε(|θᵢ|+1) of L(θ+δ) − L(θ)) / (1 + L(θ)), "
                   f"ε = {', '.join(f'{e:g}' for e in cfg.eps)}; L = cross-entropy on {cfg.n_sharp:,} training images, "
                   "evaluation mode"),
        ("Solver", f"projected sign-gradient ascent, {cfg.ascent_steps} steps of a quarter of the box half-width, "
                   "clamped to the box, best loss kept (Keskar et al. used L-BFGS-B and released no code); all models "
                   "of both sweeps at once as one stacked model"),
        ("Trends", "Spearman's rank correlation over every model that trained, each seed a point of its own, not over "
                   f"the means; one over fewer than {MIN_MODELS} batch sizes is not reported; " + COMPARISON_RULE),
    ]


def sharpness_column(eps: float) -> str:
    return f"sharpness_{eps:g}"


def per_model(cfg: Config, res: Result) -> pd.DataFrame:
    """Both sweeps' models with one φ column per ε (`sharpness_column`), `ok` (it trained and did not diverge) and
    its `state` in words; in BATCH_SWEEPS order, then by batch and seed."""
    t = res.models.assign(**{sharpness_column(e): res.sharpness[i] for i, e in enumerate(cfg.eps)})
    failed = ~trained(t)
    t = t.assign(ok=~failed & (t["diverged_epoch"] == 0),
                 state=[run_state(int(d), f) for d, f in zip(t["diverged_epoch"], failed)],
                 order=t["sweep"].map({s: i for i, s in enumerate(BATCH_SWEEPS)}))
    return t.sort_values(["order", "batch", "seed"]).drop(columns="order").reset_index(drop=True)


def sweep_models(t: pd.DataFrame, sweep: str) -> pd.DataFrame:
    return t[t["sweep"] == sweep]


def trained_models(t: pd.DataFrame) -> pd.DataFrame:
    """The models that enter a mean or a trend: trained, not diverged, with a measured φ."""
    return t[t["ok"]]


def seed_spread(t: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per batch size, the mean, min and max of `column` over the seeds that trained."""
    ok = trained_models(t).dropna(subset=[column])
    return ok.groupby("batch")[column].agg(["mean", "min", "max"]).reset_index()


def batch_axis(ax, t: pd.DataFrame) -> None:
    batches = sorted(int(b) for b in t["batch"].unique())
    ax.set_xscale("log")
    if batches:
        plots.value_ticks(ax.xaxis, batches)
        ax.set_xlim(batches[0] / 1.6, batches[-1] * 1.6)
    ax.set_xlabel("batch size (log)")


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    t = per_model(cfg, res)
    fig, axes = plots.new_figure(2, len(BATCH_SWEEPS), width=7.2, height=5.6, sharey="row")
    for j, sweep in enumerate(BATCH_SWEEPS):
        s = sweep_models(t, sweep)
        top, bottom = axes[j], axes[len(BATCH_SWEEPS) + j]
        for c, e in zip(plots.COLORS, cfg.eps):
            plots.seed_points(top, trained_models(s), "batch", sharpness_column(e), "o-", c, f"ε = {e:g}")
        plots.seed_points(bottom, trained_models(s), "batch", "jacobian", "^-", plots.COLORS[2],
                          "Jacobian sensitivity (a)")
        for ax in (top, bottom):
            batch_axis(ax, s)
            plots.mark_failed(ax, failed_points(s, "batch", ok="ok"), partly_failed_points(s, "batch", ok="ok"))
        top.set(title=f"ε-sharpness, {SWEEP_LABELS[sweep]}", ylabel="ε-sharpness φ" if j == 0 else "")
        bottom.set(title=f"Sensitivity, {SWEEP_LABELS[sweep]}", ylabel="Jacobian sensitivity" if j == 0 else "")
    plots.figure_legend(fig, axes[0], axes[len(BATCH_SWEEPS)], ncols=3)  # both sweeps draw the same lines
    return [FigureSpec("sharpness", "ε-sharpness (top) and Jacobian sensitivity (bottom) against the batch size, at "
                                    "one learning rate (left) and with the rate scaled with the batch (right): mean "
                                    "over the seeds that trained, error bars min–max. A red dotted line marks a batch "
                                    "size at which no seed trained; where only some failed, the rest are averaged "
                                    "(the table lists every model).", fig)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = per_model(cfg, res)
    frame = pd.DataFrame({"sweep": t["sweep"].map(SWEEP_LABELS), "batch": t["batch"],
                          "lr": [f"{v:.3g}" for v in t["lr"]], "seed": t["seed"],
                          "train loss": t["train_loss"], "test loss": t["test_loss"],
                          **{f"φ (ε = {e:g})": t[sharpness_column(e)] for e in cfg.eps},
                          "Jacobian sensitivity": t["jacobian"], "state": t["state"]})
    return [TableSpec("sharpness", "ε-sharpness and Jacobian sensitivity of every model of both batch-size sweeps; "
                                   "models that failed to train or diverged are marked and left out of the figure's "
                                   "means and of every correlation.", frame)]


def gap_relation(t: Trend) -> str:
    """How sharpness relates to the generalisation gap, from their rank correlation and its p-value."""
    return {"rising": "tracks the gap", "falling": "is anti-correlated with the gap"}.get(
        t.relation, "shows no clear relation to the gap")


def lr_text(s: pd.DataFrame) -> str:
    """The sweep's learning rate(s) in words."""
    lo, hi = s["lr"].min(), s["lr"].max()
    return f"lr {lo:.3g}" if lo == hi else f"lr {lo:.3g} to {hi:.3g}"


def gap(s: pd.DataFrame) -> pd.Series:
    return s["test_loss"] - s["train_loss"]


def vs_batch(cfg: Config, s: pd.DataFrame, sweep: str) -> list[Finding]:
    """Per ε: how φ moves with the batch size over the models of one sweep that trained."""
    ok = trained_models(s)
    out: list[Finding] = []
    if ok["batch"].nunique() < MIN_MODELS:
        return out
    for e in cfg.eps:
        col = sharpness_column(e)
        r = trend(np.log(ok["batch"].astype(float)), ok[col])
        if not math.isfinite(r.rho):
            continue
        spread = seed_spread(s, col)
        verdict = {"rising": "larger batches end in sharper minima, as Keskar et al. (2017) report",
                   "falling": "larger batches end in flatter minima here, contrary to Keskar et al. (2017)"}.get(
            r.relation, "these runs show no trend with batch size that its p-value can carry")
        out.append(Finding(f"sharpness-vs-batch.{sweep}.{name_part(e)}",
                           "With {label} ({lr}), at ε = {e}, sharpness {w} with the batch size over the {n:int} models "
                           "that trained (Spearman {r:sig} with log batch size, p = {p:sig}); its mean over the seeds "
                           "goes from {lo:sig} at batch {b0:int} to {hi:sig} at batch {b1:int}: " + verdict + ".",
                           {"label": SWEEP_LABELS[sweep], "lr": lr_text(s), "e": f"{e:g}", "w": trend_words(r),
                            "n": r.n, "r": r.rho, "p": r.p, "lo": float(spread["mean"].iloc[0]),
                            "b0": int(spread["batch"].iloc[0]), "hi": float(spread["mean"].iloc[-1]),
                            "b1": int(spread["batch"].iloc[-1])},
                           [correlation(f"rank correlation over the {sweep} sweep", "batch size",
                                        f"ε-sharpness (ε = {e:g})", r)]))
    return out


def vs_gap(cfg: Config, s: pd.DataFrame, sweep: str) -> tuple[list[Finding], Trend | None]:
    """How φ (at the first ε) relates to the generalisation gap over the models of one sweep that trained, and the
    correlation (None when undefined)."""
    ok, e = trained_models(s), cfg.eps[0]
    if ok["batch"].nunique() < MIN_MODELS:
        return [], None
    r = trend(ok[sharpness_column(e)], gap(ok))
    if not math.isfinite(r.rho):
        return [], None
    what = {"rising": "sharper models had the larger gap, in line with Keskar et al. (2017)",
            "falling": "sharper models had the smaller gap here, so sharpness does not explain the gap in these runs"}.get(
        r.relation, "no relation in these runs that its p-value can carry")
    return [Finding(f"sharpness-vs-gap.{sweep}",
                    "With {label}, sharpness at ε = {e} and the generalisation gap (test − train loss) have a Spearman "
                    "correlation of {r:sig} (p = {p:sig}) over the {n:int} models that trained: " + what + ".",
                    {"label": SWEEP_LABELS[sweep], "e": f"{e:g}", "r": r.rho, "p": r.p, "n": r.n},
                    [correlation(f"rank correlation over the {sweep} sweep", f"ε-sharpness (ε = {e:g})",
                                 "generalisation gap", r)])], r


def left_out(s: pd.DataFrame, sweep: str) -> list[Finding]:
    """Which models of one sweep did not train (failed or diverged) and so are in no mean or trend."""
    bad = s[~s["ok"]]
    if bad.empty:
        return []
    groups = [f"{state} at batch {int(b)} (seed{'s' if len(g) > 1 else ''} {', '.join(str(int(x)) for x in g['seed'])})"
              for (state, b), g in bad.groupby(["state", "batch"], sort=False)]
    return [Finding(f"left-out.{sweep}", "With {label}, {k:int} of {n:int} models are left out of the means and "
                    "trends: {which}.",
                    {"label": SWEEP_LABELS[sweep], "k": len(bad), "n": len(s), "which": "; ".join(groups)})]


def sweeps_compared(cfg: Config, t: pd.DataFrame, r_fixed: Trend, r_scaled: Trend) -> Finding:
    """Whether sharpness tracks the gap where training is matched (scaled lr), against the fixed-lr sweep, whose
    larger batches take fewer steps at equal epochs. The scaled sweep is called matched unless its training is clearly
    more unequal than the fixed-lr sweep's (training.spread_claim): the rule is meant to match training, not proven
    to."""
    fixed, scaled = sweep_models(t, "batch"), sweep_models(t, "scaled")
    b0, b1 = int(fixed["batch"].min()), int(fixed["batch"].max())
    fl, sl = trained_models(fixed)["train_loss"], trained_models(scaled)["train_loss"]
    spread = spread_claim(trained_models(fixed), trained_models(scaled), "batch")
    if float(spread.uncertainty["n"]) < 2:
        where = ("its training losses span {slo:sig} to {shi:sig}; one seed cannot tell whether that is more or less "
                 "unequal than at a fixed lr. In the scaled sweep, ")
    elif spread.relation != "<":  # the scaled sweep's spread not clearly wider, seed by seed
        where = ("its training losses span {slo:sig} to {shi:sig}, not measurably more unequal (each seed's spread "
                 "paired over the seeds, p = {pm:sig}). Where training is matched, ")
    else:
        where = ("yet its training losses span {slo:sig} to {shi:sig}, more unequal (paired over the seeds, p = "
                 "{pm:sig}), so its training is not matched. In the scaled sweep, ")
    relations = {r_fixed.relation, r_scaled.relation}
    verdict = ("neither sweep shows a relation its p-value can carry" if relations == {"no trend"} else
               "the two sweeps agree, so scaling the rate with the batch does not change the relation"
               if len(relations) == 1 else
               "only one sweep shows a relation, so whether it holds where training is matched is not clear at this "
               "scale" if "no trend" in relations else
               "the two sweeps show opposite relations, so the fixed-lr relation cannot be put down to the batch size "
               "alone")
    return Finding("sharpness-vs-gap.compared",
                   "The fixed-lr sweep confounds batch size with the number of steps: at equal epochs batch {b0:int} "
                   "takes about {steps:ratio} as many steps as batch {b1:int}, and the training losses of its models "
                   "that trained span {flo:sig} to {fhi:sig}. The scaled sweep scales the rate with the batch to match "
                   "training; " + where + "sharpness at ε = {e} {ws} (Spearman {rs:sig}, p = {ps:sig}); at a fixed lr it "
                   "{wf} ({rf:sig}, p = {pf:sig}): " + verdict + ".",
                   {"b0": b0, "b1": b1, "steps": b1 / b0, "flo": float(fl.min()), "fhi": float(fl.max()),
                    "slo": float(sl.min()), "shi": float(sl.max()), "e": f"{cfg.eps[0]:g}",
                    "ws": gap_relation(r_scaled), "rs": r_scaled.rho, "ps": r_scaled.p, "wf": gap_relation(r_fixed),
                    "rf": r_fixed.rho, "pf": r_fixed.p, "pm": spread.uncertainty["p"]},
                   [correlation(f"rank correlation over the {sweep} sweep", f"ε-sharpness (ε = {cfg.eps[0]:g})",
                                "generalisation gap", r) for sweep, r in (("batch", r_fixed), ("scaled", r_scaled))]
                   + [spread])


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = per_model(cfg, res)
    out, r_gap = [], {}
    for sweep in BATCH_SWEEPS:
        s = sweep_models(t, sweep)
        if s.empty:
            continue
        gap_findings, r_gap[sweep] = vs_gap(cfg, s, sweep)
        out += left_out(s, sweep) + vs_batch(cfg, s, sweep) + gap_findings
    fixed_batches = sweep_models(t, "batch")["batch"].nunique()
    r_fixed, r_scaled = r_gap.get("batch"), r_gap.get("scaled")
    if r_fixed is not None and r_scaled is not None and fixed_batches > 1:
        out.append(sweeps_compared(cfg, t, r_fixed, r_scaled))
    return out
