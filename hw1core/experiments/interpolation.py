"""HW1-3 flatness part 1: the loss along the line between two trained models, θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import analysis, engine, models, plots, recipes
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..store import Results

ID = "interpolation"
TITLE = "Flatness vs generalization, part 1: interpolation"
PART = "HW1-3 Generalization"


@dataclass
class Config:
    model: str = "CNN-shallow"
    epochs: int = 25
    batches: tuple = (64, 1024)
    batch_lr: float = 1e-3  # learning rate of the batch-size pair
    lrs: tuple = (1e-3, 1e-2)
    lr_batch: int = 64  # batch size of the learning-rate pair
    weight_decay: float = 0.0
    alpha_min: float = -1.0
    alpha_max: float = 2.0
    n_alpha: int = 31
    n_train: int = 0
    n_test: int = 0
    n_eval_train: int = 10_000
    seed: int = 0


QUICK = dict(epochs=3, n_train=3000, n_test=1000, n_eval_train=1000, n_alpha=16)

QUESTIONS = [
    Question("Describe the settings: task and training approaches", "0.5", ["setup"]),
    Question("Training and test loss and accuracy against α", "1", ["fig:batch", "fig:lr", "table:ends"]),
    Question("Comment on the results", "1", ["findings"]),
]


def pairs(cfg: Config) -> dict[str, list[recipes.CifarRun]]:
    run = lambda batch, lr: recipes.CifarRun(cfg.model, cfg.epochs, batch, lr, cfg.weight_decay, 0, 0.1, cfg.n_train,
                                             cfg.n_test, cfg.n_eval_train, cfg.seed)
    return {"batch": [run(b, cfg.batch_lr) for b in cfg.batches], "lr": [run(cfg.lr_batch, lr) for lr in cfg.lrs]}


def labels(cfg: Config) -> dict[str, list[str]]:
    return {"batch": [f"batch {b}" for b in cfg.batches], "lr": [f"lr {lr:g}" for lr in cfg.lrs]}


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


def interpolate(cfg: Config, ctx, runs: list[recipes.CifarRun], name: str) -> dict:
    ends = [recipes.train_cifar(r, ctx, desc=f"{ID} {name} {i}") for i, r in enumerate(runs)]
    stack = recipes.stacked_params(ends, ctx.device)
    alphas = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha)
    coeff = torch.tensor(alphas, dtype=torch.float32, device=ctx.device).unsqueeze(1)
    start = {n: v[0] for n, v in stack.items()}
    line = analysis.combine(start, [{n: v[1] - v[0] for n, v in stack.items()}], coeff)
    _, train_eval, test = recipes.splits(runs[0], ctx)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    out = {"alpha": alphas, "steps": np.array(sum(int(e["steps"]) for e in ends))}
    for split, s in (("train", train_eval), ("test", test)):
        out[f"{split}_loss"], out[f"{split}_acc"] = engine.evaluate(ens, s.x, s.y, recipes.CIFAR_TRANSFORM,
                                                                     params=line, chunk=16)
        for i, e in enumerate(ends):
            out[f"{split}_loss_end{i}"] = e[f"final_{split}_loss"]
            out[f"{split}_acc_end{i}"] = e[f"final_{split}_acc"]
    return out


def run(cfg: Config, ctx) -> Results:
    res = Results(values={"config": asdict(cfg), "steps": 0, "labels": labels(cfg)})
    rows = []
    for name, runs in pairs(cfg).items():
        out = interpolate(cfg, ctx, runs, name)
        res.values["steps"] += int(out["steps"])
        for k in ("alpha", "train_loss", "train_acc", "test_loss", "test_acc"):
            res.arrays[f"{name}/{k}"] = out[k]
        for i, label in enumerate(labels(cfg)[name]):
            rows.append({"pair": name, "model": label, "train_loss": float(out[f"train_loss_end{i}"]),
                         "test_loss": float(out[f"test_loss_end{i}"]), "train_acc": float(out[f"train_acc_end{i}"]),
                         "test_acc": float(out[f"test_acc_end{i}"])})
    res.tables["ends"] = pd.DataFrame(rows)
    return res


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
        out.append(Finding("Around the ends the training loss rises by {s0:sig} ({l1}) and {s1:sig} ({l2}) one grid step "
                           "away: the {sharper} end sits in the sharper basin{note}.",
                           {"s0": s0, "s1": s1, "l1": l1, "l2": l2, "sharper": sharper,
                            "note": (", as Keskar et al. (2017) report for large batches" if sharper == l2 else
                                     ", contrary to Keskar et al.'s (2017) large-batch finding") if name == "batch"
                            else ""}))
    return out
