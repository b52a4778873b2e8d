"""Report section. HW1-3 flatness part 1: the loss along the line between two trained models,
θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.interpolation import Config, Line, Result

from .. import plots
from ..format import sweep_schedule_text
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Flatness vs generalization, part 1: interpolation"
PART = "HW1-3 Generalization"

QUESTIONS = [
    Question("Describe the settings: task and training approaches", "0.5", ["setup"]),
    Question("Training and test loss and accuracy against α", "1", ["fig:batch", "fig:lr", "table:ends"]),
    Question("Comment on the results", "1", ["findings"]),
]
FIGURES = ("batch", "lr")
TABLES = ("ends",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count_of(cfg.model):,} params); training images: "
                 f"{'all 50,000' if not cfg.data.n_train else f'{cfg.data.n_train:,}'}"),
        ("Pair 1", f"batch {cfg.batches[0]} vs batch {cfg.batches[1]}, both Adam lr {tc.lr:g} (the common learning "
                   f"rate), {tc.epochs} epochs"),
        ("Pair 2", f"lr {cfg.lrs[0]:g} vs lr {cfg.lrs[1]:g}, both batch {tc.batch_size} (the common batch size), "
                   f"{tc.epochs} epochs"),
        ("Common", f"Adam, weight decay {tc.weight_decay:g}, {sweep_schedule_text(tc)}, augmentation as in actual-task, "
                   f"seed {tc.seed} (both models of a pair start from the same initialisation)"),
        ("Interpolation", f"θ(α) = (1−α)·θ₁ + α·θ₂ for {cfg.n_alpha} values of α in [{cfg.alpha_min:g}, "
                          f"{cfg.alpha_max:g}]; every θ(α) evaluated in evaluation mode with no optimiser step, all α "
                          f"at once as one stacked model; training metrics on "
                          f"{min(cfg.n_eval_train, cfg.data.n_train or 50_000):,} unaugmented training images"),
    ]


def lines(res: Result) -> dict[str, Line]:
    """The two interpolated pairs by name: 'batch' (cfg.batches) and 'lr' (cfg.lrs)."""
    return {"batch": res.batch, "lr": res.lr}


def pair_labels(cfg: Config) -> dict[str, tuple[str, str]]:
    """How the two models of each pair are named: 'batch 64', 'lr 0.01'."""
    return {"batch": (f"batch {cfg.batches[0]}", f"batch {cfg.batches[1]}"),
            "lr": (f"lr {cfg.lrs[0]:g}", f"lr {cfg.lrs[1]:g}")}


def pair_figure(line: Line, name: str, labels: tuple[str, str]) -> FigureSpec:
    l1, l2 = labels
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    right = ax.twinx()
    ax.plot(line.alpha, line.train_loss, "-", color=plots.COLORS[0], label="train loss")
    ax.plot(line.alpha, line.test_loss, "--", color=plots.COLORS[0], label="test loss")
    right.plot(line.alpha, line.train_acc, "-", color=plots.COLORS[1], label="train accuracy")
    right.plot(line.alpha, line.test_acc, "--", color=plots.COLORS[1], label="test accuracy")
    for x in (0, 1):
        ax.axvline(x, color="grey", linewidth=0.6, linestyle=":")
    ax.set(yscale="log", xlabel=f"α   (0: {l1}, 1: {l2})", title=f"Interpolating {l1} → {l2}")
    ax.set_ylabel("cross-entropy (log)", color=plots.COLORS[0])
    right.set_ylabel("accuracy", color=plots.COLORS[1])
    right.set_ylim(0, 1)
    plots.twin_legend(ax, right, loc="upper center")
    return FigureSpec(name, f"Cross-entropy (log, left axis) and accuracy (right axis) of θ(α) between {l1} (α = 0) and "
                            f"{l2} (α = 1); training solid, test dashed.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    labels = pair_labels(cfg)
    return [pair_figure(line, name, labels[name]) for name, line in lines(res).items()]


def ends(cfg: Config, res: Result) -> pd.DataFrame:
    """One row per trained end point: pair, model label and its final metrics."""
    labels = pair_labels(cfg)
    return pd.DataFrame([{"pair": name, "model": labels[name][i], "train_loss": float(line.end_train_loss[i]),
                          "test_loss": float(line.end_test_loss[i]), "train_acc": float(line.end_train_acc[i]),
                          "test_acc": float(line.end_test_acc[i])}
                         for name, line in lines(res).items() for i in range(2)])


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = ends(cfg, res)
    frame = pd.DataFrame({"pair": t["pair"], "model": t["model"], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{v:.1%}" for v in t["train_acc"]],
                          "test acc": [f"{v:.1%}" for v in t["test_acc"]]})
    return [TableSpec("ends", "The trained end points (α = 0 and α = 1).", frame)]


def barrier_height(alpha: np.ndarray, loss: np.ndarray) -> float:
    """Highest loss strictly between the two models (0.05 < α < 0.95) above the worse of the two ends; positive means
    a barrier; NaN when the grid has no point in between."""
    mid = (alpha > 0.05) & (alpha < 0.95)
    if not mid.any():
        return float("nan")
    ends_loss = max(loss[np.argmin(abs(alpha))], loss[np.argmin(abs(alpha - 1))])
    return float(np.nanmax(loss[mid]) - ends_loss)


def end_curvature(alpha: np.ndarray, loss: np.ndarray, at: float) -> float:
    """Mean rise of the loss at the grid points on either side of α = at: how sharp the basin is there."""
    i = int(np.argmin(np.abs(alpha - at)))
    sides = [loss[j] for j in (i - 1, i + 1) if 0 <= j < len(loss)]
    return float(np.mean(sides) - loss[i])


def change(i: int, value: float) -> tuple[str, dict[str, float]]:
    """The loss change one grid step from end i in words: 'rises by {s<i>:sig}' quotes the signed rise itself,
    'falls by {f<i>:sig}' the drop (never a negative rise)."""
    return ("rises by {s%d:sig}" % i, {}) if value > 0 else ("falls by {f%d:sig}" % i, {f"f{i}": -value})


def findings(cfg: Config, res: Result) -> list[Finding]:
    out = []
    labels = pair_labels(cfg)
    for name, line in lines(res).items():
        l1, l2 = labels[name]
        alpha, train = line.alpha, line.train_loss
        i = int(np.nanargmin(train))
        barrier = barrier_height(alpha, train)
        if barrier > 0:
            text = ("{l1} → {l2}: training loss is lowest at α = {a:sig} ({lo:sig}); between the two models it rises "
                    "up to {b:sig} above the worse end: a barrier, so the two minima lie in different basins.")
        else:
            text = ("{l1} → {l2}: training loss is lowest at α = {a:sig} ({lo:sig}); between the two models it stays "
                    "below the worse end (no barrier), so the two minima are linearly connected.")
        out.append(Finding(f"barrier.{name}", text,
                           {"l1": l1, "l2": l2, "a": float(alpha[i]), "lo": float(train[i]), "b": barrier}))
        s0, s1 = end_curvature(alpha, train, 0.0), end_curvature(alpha, train, 1.0)
        if s0 <= 0 or s1 <= 0:
            (c0, v0), (c1, v1) = change(0, s0), change(1, s1)
            where = " and ".join(n for n, v in ((l1, s0), (l2, s1)) if v <= 0)
            out.append(Finding(f"end-curvature.{name}",
                               "One grid step away from the ends the training loss " + c0 + " ({l1}) and " + c1 +
                               " ({l2}): {where} is not at a minimum along this line, so the line gives no sharpness "
                               "comparison.", {"s0": s0, "s1": s1, **v0, **v1, "l1": l1, "l2": l2, "where": where}))
            continue
        sharper = l2 if s1 > s0 else l1
        note = ""
        if name == "batch":
            note = (", as Keskar et al. (2017) report for large batches" if sharper == l2 else
                    ", contrary to Keskar et al.'s (2017) large-batch finding")
        out.append(Finding(f"end-curvature.{name}",
                           "One grid step away from the ends the training loss rises by {s0:sig} ({l1}) and {s1:sig} "
                           "({l2}): along this line the {sharper} end sits in the sharper basin" + note + ".",
                           {"s0": s0, "s1": s1, "l1": l1, "l2": l2, "sharper": sharper}))
    return out
