"""Report section. HW1-3 random labels: report R's MLP memorises MNIST with shuffled training labels (Zhang et al. 2017)."""
from __future__ import annotations

import numpy as np

from hw1core import models
from hw1core.experiments.random_labels import Config
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Can the network fit random labels?"
PART = "HW1-3 Generalization"

QUESTIONS = [
    Question("Describe the settings: task, learning rate, optimiser", "1", ["setup"]),
    Question("Training and test loss against epochs", "1", ["fig:curves", "table:milestones", "findings"]),
]
FIGURES = ("curves",)
TABLES = ("milestones",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    n = f"{cfg.n_train:,} of 60,000 (fixed random subset)" if cfg.n_train else "all 60,000"
    return [
        ("Task", f"MNIST resized to 32×32 (bilinear), normalised with mean 0.1307 and sd 0.3081; training images: {n}; "
                 f"test: {'all 10,000' if not cfg.n_test else f'{cfg.n_test:,}'}"),
        ("Labels", f"training labels randomly permuted once (seed {cfg.label_seed}), so they carry no information "
                   "about the image; test labels are the true ones"),
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params)"),
        ("Optimiser", f"Adam, lr {cfg.lr:g}, no weight decay; batch {cfg.batch_size}; {cfg.epochs:,} epochs; "
                      f"seed {cfg.seed}"),
    ]


def figures(res: Results) -> list[FigureSpec]:
    a = res.arrays
    x = plots.epochs_axis(len(a["train_loss"]))
    fig, (ax1, ax2) = plots.new_figure(2, height=3.4)
    ax1.plot(x, a["train_loss"], color=plots.COLORS[0], label="train (random labels)")
    ax1.plot(x, a["test_loss"], color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax1.set(xlabel="epoch", ylabel="cross-entropy (log)", yscale="log", title="Loss")
    ax2.plot(x, a["train_acc"], color=plots.COLORS[0], label="train (random labels)")
    ax2.plot(x, a["test_acc"], color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax2.axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance (10%)")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        plots.integer_ticks(ax)
    return [FigureSpec("curves", "Training on randomly permuted labels: loss (left) and accuracy (right) per epoch; "
                                 "the test set keeps its true labels.", fig)]


def tables(res: Results) -> list[TableSpec]:
    return [TableSpec("milestones", "Loss and accuracy at a few epochs (including the test-loss minimum).",
                      res.tables["milestones"])]


def findings(res: Results) -> list[Finding]:
    a = res.arrays
    tl = a["test_loss"]
    rise = int(np.nanargmin(tl)) + 1
    out = [Finding("Only {agree:pct} of the permuted training labels equal the true ones (chance level), yet the "
                   "network reached {acc:pct} training accuracy after {e:count} epochs (training loss {l0:sig} → "
                   "{l1:sig}): {verdict}.",
                   {"agree": res.values["label_agreement"], "acc": a["train_acc"][-1], "e": len(tl),
                    "l0": a["train_loss"][0], "l1": a["train_loss"][-1],
                    "verdict": "it memorises labels that carry no information, as Zhang et al. (2017) found"
                    if a["train_acc"][-1] > 0.5 else "memorisation has begun but is far from complete in this run"})]
    out.append(Finding("Test accuracy ended at {acc:pct} against a chance level of 10% ({diff:sig} points {dir}).",
                       {"acc": a["test_acc"][-1], "diff": abs(100 * (a["test_acc"][-1] - 0.1)),
                        "dir": "above" if a["test_acc"][-1] >= 0.1 else "below"}))
    if rise < len(tl):
        out.append(Finding("Test loss was lowest at epoch {e:int} ({lo:sig}) and then rose to {end:sig} ({r:ratio}) as "
                           "the network fitted the noise.",
                           {"e": rise, "lo": tl[rise - 1], "end": tl[-1], "r": tl[-1] / tl[rise - 1]}))
    else:
        out.append(Finding("Test loss was still at its lowest in the last epoch ({e:int}): the run ended before it "
                           "started rising.", {"e": rise}))
    return out


def headline(res: Results) -> dict:
    a = res.arrays
    best = int(np.nanargmin(a["test_loss"]))
    return {"label_agreement": res.values["label_agreement"], "train_acc_final": a["train_acc"][-1],
            "test_acc_final": a["test_acc"][-1], "train_loss_final": a["train_loss"][-1],
            "test_loss_min": a["test_loss"][best], "test_loss_min_epoch": best + 1, "test_loss_final": a["test_loss"][-1]}
