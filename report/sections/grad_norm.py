"""Report section. HW1-2 gradient norm: the L2 norm of the loss gradient and the loss at every step of one training run."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import data, models
from hw1core.experiments.grad_norm import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Gradient norm during training"
PART = "HW1-2 Optimization"

QUESTIONS = [
    Question("One figure with the gradient norm and the loss against iterations", "1", ["fig:norm-loss"]),
    Question("Comment on the results", "1", ["setup", "table:phases", "findings"]),
]
FIGURES = ("norm-loss",)
TABLES = ("phases",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Task", f"{cfg.function}(x) = {data.FUNCTIONS[cfg.function][0]}, {cfg.n_train} points on [−1, 1], MSE"),
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params), seed {cfg.seed}"),
        ("Optimiser", f"Adam, lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}; batch {cfg.batch_size}; {cfg.epochs:,} epochs"),
        ("Recorded", "at every step: the mini-batch loss and ‖∇θ L‖₂ over all parameters (before the optimiser step; "
                     "weight decay not included)"),
    ]


def figures(res: Results) -> list[FigureSpec]:
    a, spe = res.arrays, res.values["steps_per_epoch"]
    step_epochs = np.arange(1, len(a["grad_norm"]) + 1) / spe
    fig, axes = plots.new_figure(1, 2, height=4.6, sharex=True)
    axes[0].plot(step_epochs, a["grad_norm"], color=plots.COLORS[0], linewidth=0.4, alpha=0.35, label="per step")
    axes[0].plot(plots.epochs_axis(len(a["epoch_norm"])), a["epoch_norm"], color=plots.COLORS[0], linewidth=1.3,
                 label="epoch mean")
    axes[0].set(yscale="log", ylabel="‖∇L‖₂ (log)", title="Gradient norm and loss")
    axes[0].legend(fontsize=7)
    axes[1].plot(step_epochs, a["step_loss"], color=plots.COLORS[1], linewidth=0.4, alpha=0.35, label="per step")
    axes[1].plot(plots.epochs_axis(len(a["epoch_loss"])), a["epoch_loss"], color=plots.COLORS[1], linewidth=1.3,
                 label="epoch mean")
    axes[1].set(yscale="log", ylabel="MSE (log)", xlabel="epoch")
    axes[1].legend(fontsize=7)
    return [FigureSpec("norm-loss", f"Gradient norm (top) and loss (bottom) at every one of "
                                    f"{len(a['grad_norm']):,} steps (faint) and per epoch (solid); x axis in epochs "
                                    f"({spe} steps each).", fig)]


def tables(res: Results) -> list[TableSpec]:
    return [TableSpec("phases", "Loss and gradient norm over four equal phases of training.", res.tables["phases"])]


def findings(res: Results) -> list[Finding]:
    a = res.arrays
    norm, loss = pd.Series(a["epoch_norm"]), pd.Series(a["epoch_loss"])
    peak = int(norm.idxmax())
    tail = max(1, len(norm) // 10)
    out = [Finding("The gradient norm peaked at epoch {e:int} ({p:sig}); over the last {tail:int} epochs it averaged "
                   "{end:sig}, {drop:ratio} below the peak, while the loss fell from {l0:sig} to {l1:sig} ({ld:ratio}).",
                   {"e": peak + 1, "p": norm[peak], "tail": tail, "end": norm[-tail:].mean(),
                    "drop": norm[peak] / norm[-tail:].mean(), "l0": loss.iloc[0], "l1": loss[-tail:].mean(),
                    "ld": loss.iloc[0] / loss[-tail:].mean()})]
    rho = norm.corr(loss, method="spearman")
    out.append(Finding("Across epochs, the gradient norm and the loss have a Spearman correlation of {r:sig}: {what}.",
                       {"r": rho, "what": "they fall together" if rho > 0.3 else
                        "the norm tends to rise while the loss falls" if rho < -0.3 else "they are largely unrelated"}))
    steps = pd.Series(a["grad_norm"])
    spikes = int((steps > 3 * steps.rolling(50, min_periods=1).median()).sum())
    out.append(Finding("{n:int} of {total:count} steps ({share:pct}) had a gradient norm over 3× the running median "
                       "over 50 steps; the epoch means in the figure smooth these spikes away.",
                       {"n": spikes, "total": len(steps), "share": spikes / len(steps)}))
    return out


def headline(res: Results) -> dict:
    norm, loss = res.arrays["epoch_norm"], res.arrays["epoch_loss"]
    return {"grad_norm_peak": float(norm.max()), "grad_norm_peak_epoch": int(norm.argmax()) + 1,
            "grad_norm_final": float(norm[-1]), "loss_first_epoch": float(loss[0]), "loss_final": float(loss[-1]),
            "norm_loss_spearman": pd.Series(norm).corr(pd.Series(loss), method="spearman")}
