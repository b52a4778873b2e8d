"""Report section. HW1-3 number of parameters vs generalisation: report R's 11 CIFAR-10 CNNs of one shape, different widths."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.param_count import Config, runs
from hw1core.results import Results

from .. import plots
from ..outputs import FigureSpec, Finding, Question, TableSpec, by_row

TITLE = "Number of parameters vs generalization"
PART = "HW1-3 Generalization"

QUESTIONS = [
    Question("Describe the settings and the 10+ structures", "1", ["setup"]),
    Question("Training and test loss and accuracy against the number of parameters", "1", ["fig:loss", "fig:acc"]),
    Question("Comment on the results", "1", ["table:models", "findings"]),
]
FIGURES = ("loss", "acc")
TABLES = ("models",)


def architectures(cfg: Config) -> list[str]:
    return list(cfg.models)


def setup(cfg: Config) -> list[tuple[str, str]]:
    r = runs(cfg)[0]
    return [
        ("Task", f"CIFAR-10; training images: {'all 50,000' if not cfg.n_train else f'{cfg.n_train:,}'}, "
                 f"test: {'all 10,000' if not cfg.n_test else f'{cfg.n_test:,}'}"),
        ("Structures", f"{len(cfg.models)} CNNs: five 3×3 convolutions (padding 1) with ReLU and 2×2 max-pooling, "
                       "then one linear layer; only the widths differ: " +
                       "; ".join(f"{m} {'-'.join(map(str, models.PARAM_COUNT_WIDTHS[int(m.split('-')[1])]))} "
                                 f"({models.param_count(models.build(m)):,})" for m in cfg.models)),
        ("Training", r.describe() + f"; cross-entropy; augmentation as in actual-task; seed {cfg.seed}"),
        ("Metrics", f"after training, in evaluation mode: training metrics on "
                    f"{min(cfg.n_eval_train, cfg.n_train or 50_000):,} training images without augmentation, test "
                    "metrics on the test images"),
    ]


def versus_params(res: Results, metric: str, label: str, log: bool) -> FigureSpec:
    t = res.tables["models"].sort_values("params")
    fig, (ax,) = plots.new_figure(width=6.4, height=3.6)
    ax.plot(t["params"], t[f"train_{metric}"], "o-", color=plots.COLORS[0], label="train")
    ax.plot(t["params"], t[f"test_{metric}"], "s--", color=plots.COLORS[1], label="test")
    ax.set(xscale="log", yscale="log" if log else "linear", xlabel="parameters (log)", ylabel=label,
           title=f"{label.capitalize()} vs number of parameters")
    ax.legend(fontsize=8)
    return FigureSpec(metric, f"Final training and test {label} of the {len(t)} models against their parameter "
                              "count.", fig)


def figures(res: Results) -> list[FigureSpec]:
    return [versus_params(res, "loss", "cross-entropy", True), versus_params(res, "acc", "accuracy", False)]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["models"].sort_values("params")
    frame = pd.DataFrame({"model": t["model"], "params": t["params"], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{a:.1%}" for a in t["train_acc"]],
                          "test acc": [f"{a:.1%}" for a in t["test_acc"]],
                          "gap (points)": [f"{100 * (a - b):.1f}" for a, b in zip(t["train_acc"], t["test_acc"])]})
    return [TableSpec("models", "Final metrics per model, by parameter count.", frame)]


def findings(res: Results) -> list[Finding]:
    t = res.tables["models"].sort_values("params")
    t = t[~t["diverged"]]
    logp = np.log(t["params"])
    rho_acc = logp.corr(t["test_acc"], method="spearman")
    gap = t["train_acc"] - t["test_acc"]
    rho_gap = logp.corr(gap, method="spearman")
    small, large = t.iloc[0], t.iloc[-1]
    best = t.loc[t["test_acc"].idxmax()]
    trend = lambda r, up, down: up if r > 0.3 else down if r < -0.3 else "shows no clear trend"
    return [
        Finding("From {s} ({sp:count} parameters) to {l} ({lp:count}), test accuracy went from {sa:pct} to {la:pct}; "
                "across all {n:int} models its Spearman correlation with the parameter count is {r:sig}, so test "
                "accuracy {trend}.",
                {"s": small["model"], "sp": small["params"], "l": large["model"], "lp": large["params"],
                 "sa": small["test_acc"], "la": large["test_acc"], "n": len(t), "r": rho_acc,
                 "trend": trend(rho_acc, "rises with size", "falls with size")}),
        Finding("The train–test accuracy gap ranges from {glo:sig} to {ghi:sig} points; its correlation with size is "
                "{r:sig}, so the gap {trend}.",
                {"glo": 100 * gap.min(), "ghi": 100 * gap.max(), "r": rho_gap,
                 "trend": trend(rho_gap, "widens with more parameters, as larger models fit the training set better "
                                "than they generalise", "narrows with more parameters")}),
        Finding("The best test accuracy, {acc:pct}, belongs to {m} ({p:count} parameters).",
                {"acc": best["test_acc"], "m": best["model"], "p": best["params"]}),
    ]


def headline(res: Results) -> dict:
    return by_row(res.tables["models"], ["model"], ["params", "train_loss", "test_loss", "train_acc", "test_acc"])
