"""Report section. HW1-3 number of parameters vs generalisation: 11 CIFAR-10 CNNs of one shape, different widths."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.param_count import Config, Result

from .. import plots
from ..claims import Claim, Trend, accuracy, best_of, compare, correlation, pair, trend
from ..format import fmt_estimate, fmt_number, train_text
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import FAILED_RULE, cifar_test_images, failed_points, run_state, trained

TITLE = "Number of parameters vs generalisation"
PART = "HW1-3 Generalisation"

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
    plots.legend_below(ax, ncols=2)
    return FigureSpec(metric, f"Final training and test {label} of the {len(t)} models against their parameter "
                              "count.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    return [versus_params(res, "loss", "cross-entropy", True), versus_params(res, "acc", "accuracy", False)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = by_size(res)
    n_test = cifar_test_images(cfg.data.n_test)
    frame = pd.DataFrame({"model": t["model"], "params": t["params"], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{a:.1%}" for a in t["train_acc"]],
                          "test acc (± se)": [fmt_estimate(accuracy(a, n_test), "pct") for a in t["test_acc"]],
                          "gap (points)": [fmt_number(100 * (a - b), ".1f") for a, b in zip(t["train_acc"], t["test_acc"])],
                          "state": [run_state(e, not ok) for e, ok in zip(t["diverged_epoch"], trained(t))]})
    return [TableSpec("models", "Final metrics per model, by parameter count.", frame)]


def size_trend(t: pd.DataFrame, column: pd.Series, quantity: str) -> tuple[Trend, Claim]:
    """How `column` moves with the parameter count over the trained models: Spearman's ρ, its p-value and claim."""
    tr = trend(np.log(t["params"]), column)
    return tr, correlation(quantity, "parameters", quantity, tr)


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = trained_models(res)
    out = []
    if len(t) >= 3:  # a rank correlation over fewer models says nothing
        gap = t["train_acc"] - t["test_acc"]
        acc_trend, acc_claim = size_trend(t, t["test_acc"], "test accuracy")
        gap_trend, gap_claim = size_trend(t, gap, "train-test accuracy gap")
        small, large = t.iloc[0], t.iloc[-1]
        says = {"rising": "rises with size", "falling": "falls with size",
                "no trend": "shows no trend with size that its p-value can carry"}
        gap_says = {"rising": "widens with more parameters", "falling": "narrows with more parameters",
                    "no trend": "shows no trend with size that its p-value can carry"}
        out += [
            Finding("test-acc-vs-size",
                    "From {s} ({sp:count} parameters) to {l} ({lp:count}), test accuracy went from {sa:pct} to "
                    "{la:pct}; across all {n:int} models its Spearman correlation with the parameter count is {r:sig} "
                    "(p = {p:sig}), so test accuracy " + says[acc_trend.relation] + ".",
                    {"s": small["model"], "sp": int(small["params"]), "l": large["model"], "lp": int(large["params"]),
                     "sa": float(small["test_acc"]), "la": float(large["test_acc"]), "n": len(t), "r": acc_trend.rho,
                     "p": acc_trend.p}, [acc_claim]),
            Finding("gap-vs-size",
                    "The train–test accuracy gap ranges from {glo:sig} to {ghi:sig} points; its Spearman correlation "
                    "with size is {r:sig} (p = {p:sig}, {n:int} models), so the gap " + gap_says[gap_trend.relation] +
                    ".", {"glo": float(100 * gap.min()), "ghi": float(100 * gap.max()), "r": gap_trend.rho,
                          "p": gap_trend.p, "n": gap_trend.n}, [gap_claim]),
            best_test_accuracy(t, cifar_test_images(cfg.data.n_test)),
            overfitting(t, cifar_test_images(cfg.data.n_test)),
        ]
        out += plateaus(t, cifar_test_images(cfg.data.n_test))
    failed = by_size(res)[lambda d: ~trained(d)]
    if len(failed):
        out.append(Finding("failed", "{n:int} of {total:int} models failed to train (diverged, or ended at chance): "
                                     "{names}; the observations above leave them out.",
                           {"n": len(failed), "total": len(res.models), "names": ", ".join(failed["model"])}))
    return out


def best_test_accuracy(t: pd.DataFrame, n_test: int) -> Finding:
    """The model with the best test accuracy, and the models its lead over is inside the sampling error."""
    acc = {r["model"]: accuracy(float(r["test_acc"]), n_test) for _, r in t.iterrows()}
    rank = best_of("test accuracy", acc)
    values = {"acc": fmt_estimate(acc[rank.best], "pct"), "m": rank.best,
              "p": int(t.set_index("model").loc[rank.best, "params"]), "n": n_test, "k": len(rank.tied),
              "tied": ", ".join(rank.tied)}
    text = "The best test accuracy, {acc}, belongs to {m} ({p:count} parameters)"
    if rank.tied:
        text += ("; {k:int} other model" + ("s are" if len(rank.tied) > 1 else " is") + " indistinguishable from it at "
                 "this scale (within the binomial sampling error over {n:count} test images): {tied}")
    else:
        text += ", clearly above every other model (beyond the binomial sampling error over {n:count} test images)"
    return Finding("best-test-acc", text + ".", values, rank.claims)


def overfitting(t: pd.DataFrame, n_test: int) -> Finding:
    """Whether the largest model is past the point where more parameters cost test accuracy: it against the best of
    the smaller ones."""
    largest, smaller = t.iloc[-1], t.iloc[:-1]
    best = smaller.loc[smaller["test_acc"].idxmax()]
    la, ba = accuracy(float(largest["test_acc"]), n_test), accuracy(float(best["test_acc"]), n_test)
    claim = pair("test accuracy", ("largest model", "best smaller model"), la, ba)
    says = {"<": "below it, beyond the sampling error: more parameters cost test accuracy at the top of the range, as "
                 "in the over-fitting regime (or the schedule trains the largest model less well; one seed cannot "
                 "tell which)",
            ">": "above it: none of these models is large enough to over-fit (test accuracy still rises with size "
                 "at the top of the range)",
            "≈": "indistinguishable from it at this scale: the range ends where test accuracy stops rising, before "
                 "any sign of over-fitting"}[claim.relation]
    return Finding("over-fitting", "The largest model, {l} ({lp:count} parameters), reached {la} test accuracy against "
                   "{ba} for the best smaller one, {b}: " + says + ".",
                   {"l": largest["model"], "lp": int(largest["params"]), "la": fmt_estimate(la, "pct"),
                    "b": best["model"], "ba": fmt_estimate(ba, "pct")}, [claim])


def plateaus(t: pd.DataFrame, n_test: int) -> list[Finding]:
    """Runs of three or more models, by size, whose test accuracies are indistinguishable from the first of the run:
    where added parameters bought nothing, with the layers whose width changed (for the CNN-N family)."""
    acc = [accuracy(float(a), n_test) for a in t["test_acc"]]
    out, i = [], 0
    while i < len(t):
        j = i + 1
        while j < len(t) and compare(acc[j], acc[i]) == "≈":
            j += 1
        if j - i >= 3:
            run = t.iloc[i:j]
            names = list(run["model"])
            claims = [pair("test accuracy", (names[k], names[0]), acc[i + k], acc[i]) for k in range(1, j - i)]
            out.append(Finding(f"plateau.{names[0]}", "From {a} to {b} ({pa:count} → {pb:count} parameters) test "
                               "accuracy stays within its sampling error ({accs})" + widths_text(names) + ".",
                               {"a": names[0], "b": names[-1], "pa": int(run["params"].iloc[0]),
                                "pb": int(run["params"].iloc[-1]),
                                "accs": ", ".join(fmt_estimate(e, "pct") for e in acc[i:j])}, claims))
            i = j
        else:
            i += 1
    return out


def widths_text(names: list[str]) -> str:
    """Which conv layers widen along a run of CNN-N models and which stay, as a clause ('' for other models)."""
    widths = [models.PARAM_COUNT_WIDTHS.get(int(n.removeprefix("CNN-"))) if n.removeprefix("CNN-").isdigit() else None
              for n in names]
    if any(w is None for w in widths):
        return ""
    layers = list(zip(*widths))  # type: ignore[arg-type]
    grow = [f"conv{k + 1} ({w[0]} → {w[-1]})" for k, w in enumerate(layers) if len(set(w)) > 1]
    if not grow:
        return ""
    last = layers[-1]
    return (f"; along it only {' and '.join(grow)} widen{'s' if len(grow) == 1 else ''}" +
            (f", while conv{len(layers)}, the last before the classifier, stays {last[0]} wide: a bottleneck the "
             f"added width has to pass through" if len(set(last)) == 1 else ""))
