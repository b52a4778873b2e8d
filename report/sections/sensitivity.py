"""Report section. HW1-3 flatness part 2: input sensitivity of models trained with different batch sizes and
learning rates."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.sensitivity import Config, Result

from .. import plots
from ..format import sweep_schedule_text
from ..outputs import FigureSpec, Finding, Question, TableSpec, name_part

TITLE = "Flatness vs generalization, part 2: sensitivity"
PART = "HW1-3 Generalization"

QUESTIONS = [
    Question("Describe the settings", "0.5", ["setup"]),
    Question("Training and test loss and accuracy, and sensitivity, against the chosen variable", "1",
             ["fig:batch-loss", "fig:batch-acc", "fig:lr-loss", "fig:lr-acc", "table:runs"]),
    Question("Comment on the results", "1", ["findings"]),
]
FIGURES = ("batch-loss", "batch-acc", "lr-loss", "lr-acc")
TABLES = ("runs",)

TREND = 0.3  # a Spearman correlation beyond ±this counts as a trend
SWEEPS = (("batch", "batch size"), ("lr", "learning rate"))  # a sweep's name (and its column) and what it varies


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count_of(cfg.model):,} params); training images: "
                 f"{'all 50,000' if not cfg.data.n_train else f'{cfg.data.n_train:,}'}; Adam, weight decay "
                 f"{tc.weight_decay:g}, {sweep_schedule_text(tc)}, {tc.epochs} epochs, seed {tc.seed}"),
        ("Batch-size sweep", f"batch {', '.join(map(str, cfg.batch_sizes))} at lr {tc.lr:g} (the common learning "
                             "rate)"),
        ("Learning-rate sweep", f"lr {', '.join(f'{lr:g}' for lr in cfg.lrs)} at batch {tc.batch_size} (the common "
                                "batch size); a run whose loss becomes non-finite is stopped and reported as diverged"),
        ("Sensitivity (a)", "Jacobian sensitivity (Novak et al. 2018): ‖∂softmax(f(x))/∂x‖_F per test image, "
                            f"averaged over {cfg.n_sens:,} test images; x is the normalised input; computed with "
                            "torch.func (one vmapped vector-Jacobian product per class)"),
        ("Sensitivity (b)", "loss-gradient sensitivity, the variant most course reports use: ‖∂L(x, y)/∂x‖₂ per test "
                            "image, averaged over the same images"),
        ("Why they can differ", "(b) = J_logitsᵀ(p − y): it shrinks as the fit improves (p → y) even when the network "
                                "is just as sensitive to its input, while (a) does not involve the label"),
    ]


def sweep_rows(res: Result, sweep: str) -> pd.DataFrame:
    """The runs of one sweep ('batch' or 'lr'), ordered by the value it varies."""
    t = res.runs
    return t[t["sweep"] == sweep].sort_values(sweep)


def sweep_figure(res: Result, sweep: str, metric: str) -> FigureSpec:
    t = sweep_rows(res, sweep)
    ok = t["diverged_epoch"] == 0
    var = dict(SWEEPS)[sweep]
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    right = ax.twinx()
    ax.plot(t[sweep][ok], t[f"train_{metric}"][ok], "o-", color=plots.COLORS[0], label=f"train {metric}")
    ax.plot(t[sweep][ok], t[f"test_{metric}"][ok], "s--", color=plots.COLORS[0], label=f"test {metric}")
    right.plot(t[sweep][ok], t["jacobian"][ok], "^-", color=plots.COLORS[1], label="sensitivity (a) Jacobian")
    right.plot(t[sweep][ok], t["loss_grad"][ok], "v:", color=plots.COLORS[3], label="sensitivity (b) loss gradient")
    for x in t[sweep][~ok]:
        ax.axvline(x, color="red", linewidth=0.8, linestyle=":")
        ax.annotate("diverged", (x, 0.5), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="red")
    ax.set(xscale="log", xlabel=f"{var} (log)", yscale="log" if metric == "loss" else "linear",
           title=f"{metric.capitalize()} and sensitivity vs {var}")
    ax.set_ylabel(("cross-entropy (log)" if metric == "loss" else "accuracy"), color=plots.COLORS[0])
    right.set(yscale="log")
    right.set_ylabel("sensitivity (log)", color=plots.COLORS[1])
    plots.twin_legend(ax, right, loc="best")
    label = "cross-entropy" if metric == "loss" else "accuracy"
    return FigureSpec(f"{sweep}-{metric}", f"Final training and test {label} (left axis) and both sensitivities (right "
                                           f"axis) against the {var}.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    return [sweep_figure(res, s, m) for s, _ in SWEEPS for m in ("loss", "acc")]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = res.runs
    frame = pd.DataFrame({
        "sweep": t["sweep"], "batch": t["batch"], "lr": [f"{v:g}" for v in t["lr"]],
        "train loss": t["train_loss"], "test loss": t["test_loss"],
        "train acc": [f"{v:.1%}" for v in t["train_acc"]], "test acc": [f"{v:.1%}" for v in t["test_acc"]],
        "sens. (a) Jacobian": t["jacobian"], "sens. (b) loss grad.": t["loss_grad"],
        "diverged": [f"epoch {e}" if e else "no" for e in t["diverged_epoch"]]})
    return [TableSpec("runs", "Every trained model: final metrics (evaluation mode) and both sensitivities.", frame)]


def direction(r: float) -> str:
    """How a quantity moves with the swept value, from its Spearman correlation r."""
    return "rises" if r > TREND else "falls" if r < -TREND else "shows no clear trend"


def findings(cfg: Config, res: Result) -> list[Finding]:
    out = []
    for sweep, var in SWEEPS:
        s = sweep_rows(res, sweep)
        s = s[s["diverged_epoch"] == 0]
        gap = s["test_loss"] - s["train_loss"]
        logv = np.log(s[sweep])
        ra, rb, rg = (float(logv.corr(c, method="spearman")) for c in (s["jacobian"], s["loss_grad"], gap))
        agree = (ra > TREND and rg > TREND) or (ra < -TREND and rg < -TREND)
        verdict = "sensitivity tracks the gap, as Novak et al. (2018) found" if agree else \
            "here sensitivity does not track the gap"
        out.append(Finding(f"sensitivity-vs-gap.{sweep}",
                           "Over the {var} sweep, Jacobian sensitivity {wa} with the {var} (Spearman {ra:sig}), the "
                           "loss-gradient sensitivity {wb} ({rb:sig}) and the generalisation gap (test − train loss) "
                           "{wg} ({rg:sig}): " + verdict + ".",
                           {"var": var, "wa": direction(ra), "ra": ra, "wb": direction(rb), "rb": rb,
                            "wg": direction(rg), "rg": rg}))
        if direction(ra) != direction(rb):
            out.append(Finding(f"sensitivities-disagree.{sweep}",
                               "The two sensitivities disagree over the {var} sweep: (a) {wa} and (b) {wb} with the "
                               "{var}.", {"var": var, "wa": direction(ra), "wb": direction(rb)}))
    t = res.runs
    for _, r in t[t["diverged_epoch"] > 0].iterrows():
        swept = int(r["batch"]) if r["sweep"] == "batch" else name_part(r["lr"])
        out.append(Finding(f"diverged.{r['sweep']}.{swept}",
                           "The run with batch {b:int} and lr {lr} ({sweep} sweep) diverged (non-finite loss) in "
                           "epoch {e:int} and is left out of the figures.",
                           {"b": int(r["batch"]), "lr": f"{r['lr']:g}", "e": int(r["diverged_epoch"]),
                            "sweep": "batch-size" if r["sweep"] == "batch" else "learning-rate"}))
    return out
