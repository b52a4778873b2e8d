"""Report section. HW1-3 number of parameters vs generalisation: 11 CIFAR-10 CNNs of one shape, different widths."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.param_count import Config, Result

from .. import plots
from ..format import train_text
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import FAILED_RULE, failed_points, run_state, trained

TITLE = "Number of parameters vs generalization"
PART = "HW1-3 Generalization"

QUESTIONS = [
    Question("Describe the settings and the 10+ structures", "1", ["setup"]),
    Question("Training and test loss and accuracy against the number of parameters", "1", ["fig:loss", "fig:acc"]),
    Question("Comment on the results", "1", ["table:models", "findings"]),
]
FIGURES = ("loss", "acc")
TABLES = ("models",)

TREND = 0.3  # a Spearman correlation beyond ±this counts as a trend


def architectures(cfg: Config) -> list[str]:
    return list(cfg.models)


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    return [
        ("Task", f"CIFAR-10; training images: {'all 50,000' if not cfg.data.n_train else f'{cfg.data.n_train:,}'}, "
                 f"test: {'all 10,000' if not cfg.data.n_test else f'{cfg.data.n_test:,}'}"),
        ("Structures", f"{len(cfg.models)} CNNs: five 3×3 convolutions (padding 1) with ReLU and 2×2 max-pooling, "
                       "then one linear layer; only the widths differ: " +
                       "; ".join(f"{m} {'-'.join(map(str, models.PARAM_COUNT_WIDTHS[int(m.split('-')[1])]))} "
                                 f"({models.param_count_of(m):,})" for m in cfg.models)),
        ("Training", f"{train_text(tc)}; cross-entropy; augmentation as in actual-task"),
        ("Metrics", f"after training, in evaluation mode: training metrics on "
                    f"{min(cfg.n_eval_train, cfg.data.n_train or 50_000):,} training images without augmentation, "
                    "test metrics on the test images"),
        ("Failed runs", FAILED_RULE),
    ]


def by_size(res: Result) -> pd.DataFrame:
    """The models' rows, fewest parameters first."""
    return res.models.sort_values("params")


def trained_models(res: Result) -> pd.DataFrame:
    """The models that trained (neither diverged nor ended at chance), fewest parameters first."""
    t = by_size(res)
    return t[trained(t)]


def versus_params(res: Result, metric: str, label: str, log: bool) -> FigureSpec:
    everything = by_size(res)
    t = everything[trained(everything)]
    fig, (ax,) = plots.new_figure(width=6.4, height=3.6)
    plots.mark_failed(ax, failed_points(everything.assign(trained=trained(everything)), "params"))
    ax.plot(t["params"], t[f"train_{metric}"], "o-", color=plots.COLORS[0], label="train")
    ax.plot(t["params"], t[f"test_{metric}"], "s--", color=plots.COLORS[1], label="test")
    ax.set(xscale="log", yscale="log" if log and not t.empty else "linear", xlabel="parameters (log)", ylabel=label,
           title=f"{label.capitalize()} vs number of parameters")
    ax.legend(fontsize=8)
    return FigureSpec(metric, f"Final training and test {label} of the {len(t)} models against their parameter "
                              "count.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    return [versus_params(res, "loss", "cross-entropy", True), versus_params(res, "acc", "accuracy", False)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = by_size(res)
    frame = pd.DataFrame({"model": t["model"], "params": t["params"], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{a:.1%}" for a in t["train_acc"]],
                          "test acc": [f"{a:.1%}" for a in t["test_acc"]],
                          "gap (points)": [f"{100 * (a - b):.1f}" for a, b in zip(t["train_acc"], t["test_acc"])],
                          "state": [run_state(e, not ok) for e, ok in zip(t["diverged_epoch"], trained(t))]})
    return [TableSpec("models", "Final metrics per model, by parameter count.", frame)]


def trend(r: float, up: str, down: str) -> str:
    """The words for a correlation with size: `up` above +TREND, `down` below −TREND, else no clear trend."""
    return up if r > TREND else down if r < -TREND else "shows no clear trend"


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = trained_models(res)
    out = []
    if len(t) >= 3:  # a rank correlation over fewer models says nothing
        logp = np.log(t["params"])
        rho_acc = float(logp.corr(t["test_acc"], method="spearman"))
        gap = t["train_acc"] - t["test_acc"]
        rho_gap = float(logp.corr(gap, method="spearman"))
        small, large = t.iloc[0], t.iloc[-1]
        best = t.loc[t["test_acc"].idxmax()]
        out += [
            Finding("test-acc-vs-size",
                    "From {s} ({sp:count} parameters) to {l} ({lp:count}), test accuracy went from {sa:pct} to "
                    "{la:pct}; across all {n:int} models its Spearman correlation with the parameter count is {r:sig}, "
                    "so test accuracy " + trend(rho_acc, "rises with size", "falls with size") + ".",
                    {"s": small["model"], "sp": int(small["params"]), "l": large["model"], "lp": int(large["params"]),
                     "sa": float(small["test_acc"]), "la": float(large["test_acc"]), "n": len(t), "r": rho_acc}),
            Finding("gap-vs-size",
                    "The train–test accuracy gap ranges from {glo:sig} to {ghi:sig} points; its correlation with size "
                    "is {r:sig}, so the gap " +
                    trend(rho_gap, "widens with more parameters, as larger models fit the training set better than "
                                   "they generalise", "narrows with more parameters") + ".",
                    {"glo": float(100 * gap.min()), "ghi": float(100 * gap.max()), "r": rho_gap}),
            Finding("best-test-acc", "The best test accuracy, {acc:pct}, belongs to {m} ({p:count} parameters).",
                    {"acc": float(best["test_acc"]), "m": best["model"], "p": int(best["params"])}),
        ]
    failed = by_size(res)[lambda d: ~trained(d)]
    if len(failed):
        out.append(Finding("failed", "{n:int} of {total:int} models failed to train (diverged, or ended at chance): "
                                     "{names}; the observations above leave them out.",
                           {"n": len(failed), "total": len(res.models), "names": ", ".join(failed["model"])}))
    return out
