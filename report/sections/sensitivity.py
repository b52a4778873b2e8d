"""Report section. HW1-3 flatness part 2: input sensitivity of CNN-shallow trained with different batch sizes and learning rates."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.sensitivity import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec, by_row

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


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count(models.build(cfg.model)):,} params); training images: "
                 f"{'all 50,000' if not cfg.n_train else f'{cfg.n_train:,}'}; Adam, weight decay "
                 f"{cfg.weight_decay:g}, constant learning rate, {cfg.epochs} epochs, seed {cfg.seed}"),
        ("Batch-size sweep", f"batch {', '.join(map(str, cfg.batch_sizes))} at lr {cfg.batch_lr:g}"),
        ("Learning-rate sweep", f"lr {', '.join(f'{lr:g}' for lr in cfg.lrs)} at batch {cfg.lr_batch}; a run whose "
                                "loss becomes non-finite is stopped and reported as diverged"),
        ("Sensitivity (a)", "Jacobian sensitivity (Novak et al. 2018): ‖∂softmax(f(x))/∂x‖_F per test image, "
                            f"averaged over {cfg.n_sens:,} test images; x is the normalised input; computed with "
                            "torch.func (one vmapped vector-Jacobian product per class)"),
        ("Sensitivity (b)", "loss-gradient sensitivity, the variant most course reports use: ‖∂L(x, y)/∂x‖₂ per test "
                            "image, averaged over the same images"),
        ("Why they can differ", "(b) = J_logitsᵀ(p − y): it shrinks as the fit improves (p → y) even when the network "
                                "is just as sensitive to its input, while (a) does not involve the label"),
    ]


def sweep_figure(res: Results, sweep: str, metric: str) -> FigureSpec:
    t = res.tables["runs"]
    t = t[t["sweep"] == sweep].sort_values(sweep)
    ok = t["diverged_epoch"] == 0
    var = "batch size" if sweep == "batch" else "learning rate"
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


def figures(res: Results) -> list[FigureSpec]:
    return [sweep_figure(res, s, m) for s in ("batch", "lr") for m in ("loss", "acc")]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["runs"]
    frame = pd.DataFrame({
        "sweep": t["sweep"], "batch": t["batch"], "lr": [f"{v:g}" for v in t["lr"]],
        "train loss": t["train_loss"], "test loss": t["test_loss"],
        "train acc": [f"{v:.1%}" for v in t["train_acc"]], "test acc": [f"{v:.1%}" for v in t["test_acc"]],
        "sens. (a) Jacobian": t["jacobian"], "sens. (b) loss grad.": t["loss_grad"],
        "diverged": [f"epoch {e}" if e else "no" for e in t["diverged_epoch"]]})
    return [TableSpec("runs", "Every trained model: final metrics (evaluation mode) and both sensitivities.", frame)]


def findings(res: Results) -> list[Finding]:
    t = res.tables["runs"]
    out = []
    for sweep, var in (("batch", "batch size"), ("lr", "learning rate")):
        s = t[(t["sweep"] == sweep) & (t["diverged_epoch"] == 0)].sort_values(sweep)
        gap = s["test_loss"] - s["train_loss"]
        logv = np.log(s[sweep])
        ra, rb, rg = (logv.corr(c, method="spearman") for c in (s["jacobian"], s["loss_grad"], gap))
        word = lambda r: "rises" if r > 0.3 else "falls" if r < -0.3 else "shows no clear trend"
        agree = (ra > 0.3 and rg > 0.3) or (ra < -0.3 and rg < -0.3)
        out.append(Finding("Over the {var} sweep, Jacobian sensitivity {wa} with the {var} (Spearman {ra:sig}), the "
                           "loss-gradient sensitivity {wb} ({rb:sig}) and the generalisation gap (test − train loss) "
                           "{wg} ({rg:sig}): {verdict}.",
                           {"var": var, "wa": word(ra), "ra": ra, "wb": word(rb), "rb": rb, "wg": word(rg), "rg": rg,
                            "verdict": "sensitivity tracks the gap, as Novak et al. (2018) found" if agree else
                            "here sensitivity does not track the gap"}))
        if word(ra) != word(rb):
            out.append(Finding("The two sensitivities disagree over the {var} sweep: (a) {wa} and (b) {wb} with the "
                               "{var}.", {"var": var, "wa": word(ra), "wb": word(rb)}))
    div = t[t["diverged_epoch"] > 0]
    for _, r in div.iterrows():
        out.append(Finding("The run with batch {b:int} and lr {lr} ({sweep} sweep) diverged (non-finite loss) in "
                           "epoch {e:int} and is left out of the figures.",
                           {"b": int(r["batch"]), "lr": f"{r['lr']:g}", "e": int(r["diverged_epoch"]),
                            "sweep": "batch-size" if r["sweep"] == "batch" else "learning-rate"}))
    return out


def headline(res: Results) -> dict:
    return by_row(res.tables["runs"], ["sweep", "batch", "lr"],
                  ["train_loss", "test_loss", "train_acc", "test_acc", "jacobian", "loss_grad", "diverged_epoch"])
