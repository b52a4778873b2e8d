"""Report section. HW1-3 flatness part 1: the loss along the line between two trained models, θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.interpolation import Config
from hw1core.results import Results

from .. import plots
from ..format import fmt_number
from ..outputs import FigureSpec, Finding, Question, TableSpec, by_row

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
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count(models.build(cfg.model)):,} params); training images: "
                 f"{'all 50,000' if not cfg.n_train else f'{cfg.n_train:,}'}"),
        ("Pair 1", f"batch {cfg.batches[0]} vs batch {cfg.batches[1]}, both Adam lr {cfg.batch_lr:g}, {cfg.epochs} epochs"),
        ("Pair 2", f"lr {cfg.lrs[0]:g} vs lr {cfg.lrs[1]:g}, both batch {cfg.lr_batch}, {cfg.epochs} epochs"),
        ("Common", f"Adam, weight decay {cfg.weight_decay:g}, constant learning rate, augmentation as in actual-task, "
                   f"seed {cfg.seed} (both models of a pair start from the same initialisation)"),
        ("Interpolation", f"θ(α) = (1−α)·θ₁ + α·θ₂ for {cfg.n_alpha} values of α in [{cfg.alpha_min:g}, "
                          f"{cfg.alpha_max:g}]; every θ(α) evaluated in evaluation mode with no optimiser step, all α "
                          f"at once as one stacked model; training metrics on "
                          f"{min(cfg.n_eval_train, cfg.n_train or 50_000):,} unaugmented training images"),
    ]


def pair_figure(res: Results, name: str) -> FigureSpec:
    a = lambda k: res.arrays[f"{name}/{k}"]
    l1, l2 = res.values["labels"][name]
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    right = ax.twinx()
    ax.plot(a("alpha"), a("train_loss"), "-", color=plots.COLORS[0], label="train loss")
    ax.plot(a("alpha"), a("test_loss"), "--", color=plots.COLORS[0], label="test loss")
    right.plot(a("alpha"), a("train_acc"), "-", color=plots.COLORS[1], label="train accuracy")
    right.plot(a("alpha"), a("test_acc"), "--", color=plots.COLORS[1], label="test accuracy")
    for x in (0, 1):
        ax.axvline(x, color="grey", linewidth=0.6, linestyle=":")
    ax.set(yscale="log", xlabel=f"α   (0: {l1}, 1: {l2})", title=f"Interpolating {l1} → {l2}")
    ax.set_ylabel("cross-entropy (log)", color=plots.COLORS[0])
    right.set_ylabel("accuracy", color=plots.COLORS[1])
    right.set_ylim(0, 1)
    plots.twin_legend(ax, right, loc="upper center")
    return FigureSpec(name, f"Cross-entropy (log, left axis) and accuracy (right axis) of θ(α) between {l1} (α = 0) and "
                            f"{l2} (α = 1); training solid, test dashed.", fig)


def figures(res: Results) -> list[FigureSpec]:
    return [pair_figure(res, "batch"), pair_figure(res, "lr")]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["ends"]
    frame = pd.DataFrame({"pair": t["pair"], "model": t["model"], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{v:.1%}" for v in t["train_acc"]],
                          "test acc": [f"{v:.1%}" for v in t["test_acc"]]})
    return [TableSpec("ends", "The trained end points (α = 0 and α = 1).", frame)]


def end_curvature(alpha: np.ndarray, loss: np.ndarray, at: float) -> float:
    """Mean rise of the loss at the grid points on either side of α = at: how sharp the basin is there."""
    i = int(np.argmin(np.abs(alpha - at)))
    sides = [loss[j] for j in (i - 1, i + 1) if 0 <= j < len(loss)]
    return float(np.mean(sides) - loss[i])


def findings(res: Results) -> list[Finding]:
    out = []
    for name in ("batch", "lr"):
        a = lambda k: res.arrays[f"{name}/{k}"]
        l1, l2 = res.values["labels"][name]
        alpha, train = a("alpha"), a("train_loss")
        i = int(np.nanargmin(train))
        mid = (alpha > 0.05) & (alpha < 0.95)
        barrier = float(np.nanmax(train[mid]) - max(train[np.argmin(abs(alpha))], train[np.argmin(abs(alpha - 1))])) \
            if mid.any() else float("nan")
        if barrier > 0:
            text = ("{l1} → {l2}: training loss is lowest at α = {a:sig} ({lo:sig}); between the two models it rises "
                    "up to {b:sig} above the worse end: a barrier, so the two minima lie in different basins.")
        else:
            text = ("{l1} → {l2}: training loss is lowest at α = {a:sig} ({lo:sig}); between the two models it stays "
                    "below the worse end (no barrier), so the two minima are linearly connected.")
        out.append(Finding(text, {"l1": l1, "l2": l2, "a": alpha[i], "lo": train[i], "b": barrier}))
        s0, s1 = end_curvature(alpha, train, 0.0), end_curvature(alpha, train, 1.0)
        sharper = l2 if s1 > s0 else l1
        change = lambda v: f"rises by {fmt_number(v, 'sig')}" if v > 0 else f"falls by {fmt_number(-v, 'sig')}"
        if s0 <= 0 or s1 <= 0:
            out.append(Finding("One grid step away from the ends the training loss {c0} ({l1}) and {c1} ({l2}): "
                               "{where} is not at a minimum along this line, so the line gives no sharpness comparison.",
                               {"c0": change(s0), "c1": change(s1), "l1": l1, "l2": l2,
                                "where": " and ".join(n for n, v in ((l1, s0), (l2, s1)) if v <= 0)}))
            continue
        out.append(Finding("One grid step away from the ends the training loss rises by {s0:sig} ({l1}) and {s1:sig} "
                           "({l2}): along this line the {sharper} end sits in the sharper basin{note}.",
                           {"s0": s0, "s1": s1, "l1": l1, "l2": l2, "sharper": sharper,
                            "note": (", as Keskar et al. (2017) report for large batches" if sharper == l2 else
                                     ", contrary to Keskar et al.'s (2017) large-batch finding") if name == "batch"
                            else ""}))
    return out


def headline(res: Results) -> dict:
    out = by_row(res.tables["ends"], ["pair", "model"], ["train_loss", "test_loss", "train_acc", "test_acc"])
    for name in ("batch", "lr"):
        train = res.arrays[f"{name}/train_loss"]
        out |= {f"min_train_loss.{name}": float(np.nanmin(train)),
                f"min_train_loss_alpha.{name}": float(res.arrays[f"{name}/alpha"][np.nanargmin(train)])}
    return out
