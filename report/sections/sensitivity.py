"""Report section. HW1-3 flatness part 2: input sensitivity of models trained with different batch sizes and
learning rates."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.sensitivity import Config, Result, scaled_lr

from .. import plots
from ..format import seeds_named, sweep_schedule_text
from ..outputs import FigureSpec, Finding, Question, TableSpec, name_part
from ..claims import COMPARISON_RULE, Trend, correlation, trend, trend_words
from ..training import (FAILED_RULE, failed_points, how_it_failed, partly_failed_points, run_state, spread_claim,
                        trained, training_spread)

TITLE = "Flatness vs generalisation, part 2: sensitivity"
PART = "HW1-3 Generalisation"

QUESTIONS = [
    Question("Describe the settings", "0.5", ["setup"]),
    Question("Training and test loss and accuracy, and sensitivity, against the chosen variable", "1",
             ["fig:batch-loss", "fig:batch-acc", "fig:scaled-loss", "fig:scaled-acc", "fig:lr-loss", "fig:lr-acc",
              "table:runs"]),
    Question("Comment on the results", "1", ["findings"]),
]
FIGURES = ("batch-loss", "batch-acc", "scaled-loss", "scaled-acc", "lr-loss", "lr-acc")
TABLES = ("runs",)

EQUAL_TRAINING = 1.05  # batch sizes whose mean final training losses differ by less than this factor trained alike
# a sweep's name, the column it varies and what it varies in words
SWEEPS = (("batch", "batch", "batch size"), ("scaled", "batch", "batch size"), ("lr", "lr", "learning rate"))


SWEEP_WORDS = {"batch": "batch-size", "scaled": "scaled-rate batch-size", "lr": "learning-rate"}  # "the ... sweep"


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def scaling_text(cfg: Config) -> str:
    rule = {0.5: "the square-root rule for Adam", 1.0: "the linear rule of Goyal et al. (2017)"}.get(cfg.lr_scaling)
    return f"lr = {cfg.train.lr:g}·(batch / {cfg.train.batch_size})^{cfg.lr_scaling:g}" + (f", {rule}" if rule else "")


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    scaled = ", ".join(f"{b}: {scaled_lr(cfg, b):.3g}" for b in cfg.batch_sizes)
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count_of(cfg.model):,} params); training images: "
                 f"{'all 50,000' if not cfg.data.n_train else f'{cfg.data.n_train:,}'}; Adam, weight decay "
                 f"{tc.weight_decay:g}, {sweep_schedule_text(tc)}, {tc.epochs} epochs"),
        ("Seeds", f"{cfg.seeds} ({seeds_named(list(range(cfg.seeds)))}) per sweep point (initialisation and shuffling); points show the mean "
                  "over the seeds that trained, bars their min–max"),
        ("Batch-size sweep", f"batch {', '.join(map(str, cfg.batch_sizes))} at lr {tc.lr:g} (the homework's sweep). "
                             f"At equal epochs batch {max(cfg.batch_sizes)} takes "
                             f"{max(cfg.batch_sizes) // min(cfg.batch_sizes)}× fewer steps than batch "
                             f"{min(cfg.batch_sizes)}, so this sweep varies the amount of training with the batch"),
        ("Scaled sweep", f"the same batch sizes with the learning rate scaled, {scaling_text(cfg)} ({scaled}), "
                         "meant to give comparable training at equal epochs and the same cost, so that the batch size "
                         "is not confounded with the amount of training; the findings check how well it did"),
        ("Learning-rate sweep", f"lr {', '.join(f'{lr:g}' for lr in cfg.lrs)} at batch {tc.batch_size} (the common "
                                "batch size)"),
        ("Failed runs", FAILED_RULE),
        ("Trends", "Spearman's rank correlation with the log of the swept value over every run that trained, each "
                   "seed a point of its own; " + COMPARISON_RULE),
        ("Sensitivity (a)", "Jacobian sensitivity (Novak et al. 2018): ‖∂softmax(f(x))/∂x‖_F per test image, "
                            f"averaged over {cfg.n_sens:,} test images; x is the normalised input; computed with "
                            "torch.func (one vmapped vector-Jacobian product per class)"),
        ("Sensitivity (b)", "loss-gradient sensitivity, the variant most course reports use: ‖∂L(x, y)/∂x‖₂ per test "
                            "image, averaged over the same images"),
        ("Why they can differ", "(b) = J_logitsᵀ(p − y): it shrinks as the fit improves (p → y) even when the network "
                                "is just as sensitive to its input, while (a) does not involve the label"),
    ]


def with_state(res: Result) -> pd.DataFrame:
    """Every run with `trained` (False for a run that diverged or ended at chance) and `gap` (test − train loss)."""
    t = res.runs
    return t.assign(trained=trained(t), gap=t["test_loss"] - t["train_loss"])


def sweep_rows(res: Result, sweep: str) -> pd.DataFrame:
    """The runs of one sweep, ordered by the value it varies, then by seed."""
    t = with_state(res)
    column = dict((s, c) for s, c, _ in SWEEPS)[sweep]
    return t[t["sweep"] == sweep].sort_values([column, "seed"])


def sweep_figure(res: Result, sweep: str, column: str, var: str, metric: str) -> FigureSpec:
    t = sweep_rows(res, sweep)
    ok = t[t["trained"]]
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    right = ax.twinx()
    plots.seed_points(ax, ok, column, f"train_{metric}", "o-", plots.COLORS[0], f"train {metric}")
    plots.seed_points(ax, ok, column, f"test_{metric}", "s--", plots.COLORS[0], f"test {metric}")
    plots.seed_points(right, ok, column, "jacobian", "^-", plots.COLORS[1], "sensitivity (a) Jacobian")
    plots.seed_points(right, ok, column, "loss_grad", "v:", plots.COLORS[3], "sensitivity (b) loss gradient")
    plots.mark_failed(ax, failed_points(t, column), partly_failed_points(t, column))
    rate = " (learning rate scaled with it)" if sweep == "scaled" else ""
    some = not ok.empty  # a log axis needs a value to scale: a sweep where no run trained shows only its marks
    ax.set(xscale="log", xlabel=f"{var} (log){rate}", yscale="log" if metric == "loss" and some else "linear",
           title=f"{metric.capitalize()} and sensitivity vs {var}{', scaled rate' if rate else ''}")
    ax.set_ylabel(("cross-entropy (log)" if metric == "loss" else "accuracy"), color=plots.COLORS[0])
    right.set(yscale="log" if some else "linear")
    right.set_ylabel("sensitivity (log)", color=plots.COLORS[1])
    if len(t):
        plots.value_ticks(ax.xaxis, t[column])
    plots.twin_legend(ax, right, ncols=2)
    label = "cross-entropy" if metric == "loss" else "accuracy"
    return FigureSpec(f"{sweep}-{metric}", f"Final training and test {label} (left axis) and both sensitivities (right "
                                           f"axis) against the {var}{rate}: mean over the seeds that trained, bars "
                                           "min–max.",
                      fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    return [sweep_figure(res, s, c, v, m) for s, c, v in SWEEPS for m in ("loss", "acc")]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = pd.concat([sweep_rows(res, s) for s, _, _ in SWEEPS])
    frame = pd.DataFrame({
        "sweep": t["sweep"], "batch": t["batch"], "lr": [f"{v:.3g}" for v in t["lr"]], "seed": t["seed"],
        "train loss": t["train_loss"], "test loss": t["test_loss"],
        "train acc": [f"{v:.1%}" for v in t["train_acc"]], "test acc": [f"{v:.1%}" for v in t["test_acc"]],
        "sens. (a) Jacobian": t["jacobian"], "sens. (b) loss grad.": t["loss_grad"],
        "state": [run_state(e, not ok) for e, ok in zip(t["diverged_epoch"], t["trained"])]})
    return [TableSpec("runs", "Every trained model: final metrics (evaluation mode) and both sensitivities; a run "
                              "that failed to train is left out of the figures and the trends.", frame)]


def sweep_trend(rows: pd.DataFrame, column: str, of: str) -> Trend:
    """Spearman's ρ (and p) of column `of` with the log of the swept column, over every trained run (all seeds)."""
    return trend(np.log(rows[column]), rows[of])


MEASURES = {"jacobian": "Jacobian sensitivity", "loss_grad": "loss-gradient sensitivity",
            "gap": "generalisation gap"}


def findings(cfg: Config, res: Result) -> list[Finding]:
    out = []
    for sweep, column, var in SWEEPS:
        s = sweep_rows(res, sweep)
        s = s[s["trained"]]
        if s[column].nunique() < 3:
            continue  # a rank correlation over fewer than three values says nothing
        tr = {c: sweep_trend(s, column, c) for c in MEASURES}
        quantity = f"rank correlation over the {sweep} sweep"
        claims = [correlation(quantity, var, MEASURES[c], t) for c, t in tr.items()]
        tracks = trend(s["jacobian"], s["gap"])  # the question itself: does sensitivity go with the gap, run by run?
        claims.append(correlation(quantity, MEASURES["gap"], MEASURES["jacobian"], tracks))
        verdict = {"rising": "sensitivity tracks the gap, as Novak et al. (2018) found",
                   "falling": "here sensitivity moves against the gap, unlike Novak et al. (2018)"}.get(
            tracks.relation, "these runs cannot show whether sensitivity tracks the gap")
        out.append(Finding(f"sensitivity-vs-gap.{sweep}",
                           "Over the {title} sweep ({n:int} runs that trained), Jacobian sensitivity {wa} with the "
                           "{var} (Spearman {ra:sig}, p = {pa:sig}), the loss-gradient sensitivity {wb} ({rb:sig}, "
                           "p = {pb:sig}) and the generalisation gap (test − train loss) {wg} ({rg:sig}, p = {pg:sig}). "
                           "Run by run, Jacobian sensitivity and the gap have a Spearman correlation of {rt:sig} "
                           "(p = {pt:sig}): " + verdict + ".",
                           {"title": SWEEP_WORDS[sweep], "var": var, "n": len(s),
                            "wa": trend_words(tr["jacobian"]), "ra": tr["jacobian"].rho, "pa": tr["jacobian"].p,
                            "wb": trend_words(tr["loss_grad"]), "rb": tr["loss_grad"].rho, "pb": tr["loss_grad"].p,
                            "wg": trend_words(tr["gap"]), "rg": tr["gap"].rho, "pg": tr["gap"].p,
                            "rt": tracks.rho, "pt": tracks.p}, claims))
        if {tr["jacobian"].relation, tr["loss_grad"].relation} == {"rising", "falling"}:
            out.append(Finding(f"sensitivities-disagree.{sweep}",
                               "The two sensitivities disagree over the {title} sweep: (a) {wa} and (b) {wb} with the "
                               "{var}.", {"title": SWEEP_WORDS[sweep], "var": var, "wa": trend_words(tr["jacobian"]),
                                          "wb": trend_words(tr["loss_grad"])}, claims[:2]))
    out += matched_training(res)
    t = with_state(res)
    for _, r in t[~t["trained"]].iterrows():
        swept = int(r["batch"]) if r["sweep"] != "lr" else name_part(r["lr"])
        how = (f"diverged (non-finite loss) in epoch {int(r['diverged_epoch'])}" if r["diverged_epoch"] else
               how_it_failed(r["train_loss"]) + ": it failed to train")
        out.append(Finding(f"failed.{r['sweep']}.{swept}.seed-{int(r['seed'])}",
                           "The run with batch {b:int} and lr {lr} ({sweep} sweep, seed {seed:int}) " + how +
                           "; it is left out of the figures and the trends.",
                           {"b": int(r["batch"]), "lr": f"{r['lr']:.3g}", "seed": int(r["seed"]),
                            "sweep": SWEEP_WORDS[r["sweep"]], "loss": float(r["train_loss"]), "acc": float(r["train_acc"])}))
    return out


def matched_training(res: Result) -> list[Finding]:
    """How far the two batch-size sweeps are from equal training, and what the gap does in each: Keskar et al.
    (2017) expect large batches to generalise worse where training is matched."""
    rows = {}
    for sweep in ("batch", "scaled"):
        s = sweep_rows(res, sweep)
        rows[sweep] = s[s["trained"]]
        if rows[sweep]["batch"].nunique() < 3:
            return []
    spread = {sweep: training_spread(r, "batch") for sweep, r in rows.items()}
    gap = {sweep: sweep_trend(r, "batch", "gap") for sweep, r in rows.items()}
    matched = spread_claim(rows["batch"], rows["scaled"], "batch")
    if max(spread.values()) < EQUAL_TRAINING:
        where = "with both sweeps training the batch sizes about equally"
    elif matched.relation == ">":  # the fixed sweep's spread clearly above the scaled one's, seed by seed
        where = "where training is better matched"
    else:
        where = ""
    scaled = gap["scaled"].relation
    if not where and float(matched.uncertainty["n"]) < 2:
        verdict = ("one seed cannot tell whether the scaled rate matched the training better, so neither sweep "
                   "separates the batch size from it at this scale")
    elif not where:
        verdict = ("the scaled rate did not match the training measurably better (each seed's spread paired over the "
                   "seeds, p = {pm:sig}), so neither sweep separates the batch size from it")
    elif scaled == "rising":
        verdict = where + ", large batches generalise worse, as Keskar et al. (2017) report"
    elif scaled == "falling":
        verdict = where + ", large batches generalise better here, unlike Keskar et al. (2017)"
    else:
        verdict = where + ", these runs cannot tell whether large batches generalise worse, as Keskar et al. (2017) report"
    return [Finding("matched-training",
                    "The batch sizes' mean final training losses differ by up to {sb:ratio} at one learning rate and "
                    "by up to {ss:ratio} with the rate scaled. The gap {wb} with the batch size at one rate (Spearman "
                    "{gb:sig}, p = {pb:sig}) and {ws} with the rate scaled ({gs:sig}, p = {ps:sig}): " + verdict + ".",
                    {"sb": spread["batch"], "ss": spread["scaled"], "wb": trend_words(gap["batch"]),
                     "gb": gap["batch"].rho, "pb": gap["batch"].p, "ws": trend_words(gap["scaled"]),
                     "gs": gap["scaled"].rho, "ps": gap["scaled"].p, "pm": matched.uncertainty["p"]},
                    [correlation(f"rank correlation over the {sweep} sweep", "batch size", MEASURES["gap"], t)
                     for sweep, t in gap.items()] + [matched])]
