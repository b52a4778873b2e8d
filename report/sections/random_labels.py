"""Report section. HW1-3 random labels: an MLP memorises MNIST with shuffled training labels (Zhang et al. 2017)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.random_labels import Config, Result

from .. import plots
from ..format import train_text
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
    n_train, n_test = cfg.data.n_train, cfg.data.n_test
    n = f"{n_train:,} of 60,000 (fixed random subset)" if n_train else "all 60,000"
    return [
        ("Task", f"MNIST resized to 32×32 (bilinear), normalised with mean 0.1307 and sd 0.3081; training images: {n}; "
                 f"test: {'all 10,000' if not n_test else f'{n_test:,}'}"),
        ("Labels", f"training labels randomly permuted once (seed {cfg.label_seed}), so they carry no information "
                   "about the image; test labels are the true ones"),
        ("Model", f"{cfg.model} ({models.param_count_of(cfg.model):,} params)"),
        ("Optimiser", train_text(cfg.train)),
    ]


def test_loss_min_epoch(res: Result) -> int:
    """The (1-based) epoch with the lowest test loss; 0 when no epoch has a finite one."""
    return int(np.nanargmin(res.test_loss)) + 1 if np.isfinite(res.test_loss).any() else 0


def milestone_epochs(epochs: int, best: int) -> list[int]:
    """The epochs the milestones table shows: the first, a tenth, a quarter, half, the last and the test-loss
    minimum (where there is one)."""
    return sorted({1, max(1, epochs // 10), max(1, epochs // 4), max(1, epochs // 2), epochs} | ({best} if best else set()))


def milestones(res: Result) -> pd.DataFrame:
    """Loss and accuracy at the milestone epochs."""
    marks = milestone_epochs(len(res.train_loss), test_loss_min_epoch(res))
    return pd.DataFrame([
        {"epoch": m, "train loss": res.train_loss[m - 1], "train acc": f"{res.train_acc[m - 1]:.1%}",
         "test loss": res.test_loss[m - 1], "test acc": f"{res.test_acc[m - 1]:.1%}"} for m in marks])


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    x = plots.epochs_axis(len(res.train_loss))
    fig, (ax1, ax2) = plots.new_figure(1, 2, height=3.4)
    ax1.plot(x, res.train_loss, color=plots.COLORS[0], label="train (random labels)")
    ax1.plot(x, res.test_loss, color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax1.set(xlabel="epoch", ylabel="cross-entropy (log)", yscale="log", title="Loss")
    ax2.plot(x, res.train_acc, color=plots.COLORS[0], label="train (random labels)")
    ax2.plot(x, res.test_acc, color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax2.axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance (10%)")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        plots.integer_ticks(ax)
    return [FigureSpec("curves", "Training on randomly permuted labels: loss (left) and accuracy (right) per epoch; "
                                 "the test set keeps its true labels.", fig)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    return [TableSpec("milestones", "Loss and accuracy at a few epochs (including the test-loss minimum).",
                      milestones(res))]


def findings(cfg: Config, res: Result) -> list[Finding]:
    tl = res.test_loss
    rise = test_loss_min_epoch(res)
    train_acc, test_acc = float(res.train_acc[-1]), float(res.test_acc[-1])
    verdict = ("it memorises labels that carry no information, as Zhang et al. (2017) found" if train_acc > 0.5 else
               "memorisation has begun but is far from complete in this run")
    out = [Finding("memorised",
                   "Only {agree:pct} of the permuted training labels equal the true ones (chance level), yet the "
                   "network reached {acc:pct} training accuracy after {e:count} epochs (training loss {l0:sig} → "
                   "{l1:sig}): " + verdict + ".",
                   {"agree": res.label_agreement, "acc": train_acc, "e": len(tl),
                    "l0": float(res.train_loss[0]), "l1": float(res.train_loss[-1])})]
    out.append(Finding("test-acc-vs-chance",
                       "Test accuracy ended at {acc:pct} against a chance level of 10% ({diff:sig} points {dir}).",
                       {"acc": test_acc, "diff": abs(100 * (test_acc - 0.1)),
                        "dir": "above" if test_acc >= 0.1 else "below"}))
    if res.diverged_epoch > 0:
        out.append(Finding("diverged", "The run diverged (non-finite training loss) at epoch {e:int}; later epochs have "
                           "no measurements.", {"e": res.diverged_epoch}))
    if not (rise and np.isfinite(tl[-1])):
        return out  # diverged: no last-epoch test loss to compare with
    if rise < len(tl):
        out.append(Finding("test-loss-min",
                           "Test loss was lowest at epoch {e:int} ({lo:sig}) and then rose to {end:sig} ({r:ratio}) "
                           "as the network fitted the noise.",
                           {"e": rise, "lo": float(tl[rise - 1]), "end": float(tl[-1]),
                            "r": float(tl[-1] / tl[rise - 1])}))
    else:
        out.append(Finding("test-loss-min", "Test loss was still at its lowest in the last epoch ({e:int}): the run "
                           "ended before it started rising.", {"e": rise}))
    return out
