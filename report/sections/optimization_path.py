"""Report section. HW1-2 optimisation path: 8 runs of one architecture, weights every 3 epochs, one shared PCA."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hw1core import models
from hw1core.experiments.optimization_path import Config, Result, is_regression

from .. import plots
from ..claims import LEVEL, Claim, Estimate, accuracy, over_seeds, paired
from ..format import fmt_estimate, train_text
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import cifar_test_images

TITLE = "Visualise the optimisation process"
PART = "HW1-2 Optimisation"

QUESTIONS = [
    Question("Describe the settings: recording cycle, optimiser, reduction method", "1", ["setup"]),
    Question("The 8 runs for the whole model and for one layer, in separate figures", "1", ["fig:whole", "fig:layer"]),
    Question("Comment on the results", "1", ["fig:displacement", "table:runs", "findings"]),
]
FIGURES = ("whole", "layer", "displacement")
TABLES = ("runs",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc, sizes = cfg.train, cfg.data
    task = (f"f1 regression ({cfg.n_points} points), MSE; points labelled with the training loss" if is_regression(cfg)
            else "CIFAR-10 classification, cross-entropy; points labelled with test accuracy "
                 f"({'all' if not sizes.n_test else f'{sizes.n_test:,}'} test images)")
    return [
        ("Task", task),
        ("Model", f"{cfg.model} ({models.param_count_of(cfg.model):,} params), {cfg.runs} runs, seeds "
                  f"0–{cfg.runs - 1}, trained together as one stacked model"),
        ("Optimiser", train_text(tc) + ("" if is_regression(cfg) else
                                        f"; on {'all' if not sizes.n_train else f'{sizes.n_train:,}'} training images")),
        ("Why this schedule", f"batch {tc.batch_size} at lr {tc.lr:g}, held for "
                              f"{tc.step_size or tc.epochs} of {tc.epochs} epochs. The full profile's batch 1000 keeps "
                              "8 runs affordable on a CPU, but at that batch param-count's schedule (lr 4e-4, cut "
                              "every 10 epochs) left the runs far below the same model's accuracy in param-count, "
                              "so the paths showed mostly the initialisation; 10× the rate, held for two thirds of "
                              "the epochs, trains them"),
        ("Recording cycle", f"all weights at initialisation and every {cfg.every} epochs"),
        ("Reduction", "PCA to 2 components (scikit-learn), fitted once over every recorded vector of all runs together, "
                      "so all runs share one basis; the same for the first layer alone"),
    ]


def labelled_points(path: np.ndarray, span: np.ndarray, gap: float = 0.05) -> list[int]:
    """Indices of the points of one path to label: the last, then going back each point at least `gap` of the
    plot's extent from the one labelled after it, so labels where the path slows down do not print over each other."""
    keep = [len(path) - 1]
    for j in range(len(path) - 2, -1, -1):
        if np.hypot(*((path[j] - path[keep[-1]]) / np.where(span > 0, span, 1))) >= gap:
            keep.append(j)
    return keep[::-1]


def trajectory_figure(res: Result, key: str, title: str) -> FigureSpec:
    coords, evr = (res.whole, res.whole_evr) if key == "whole" else (res.layer, res.layer_evr)
    metric, epochs = res.values, res.epochs
    fig, (ax,) = plots.new_figure(width=6.4, height=5.0)
    acc = res.metric == "accuracy"
    span = np.ptp(coords.reshape(-1, 2), axis=0)
    for k in range(coords.shape[0]):
        c = plots.COLORS[k % len(plots.COLORS)]
        ax.plot(coords[k, :, 0], coords[k, :, 1], "-", color=c, linewidth=1, alpha=0.8, label=f"run {k}")
        ax.plot(coords[k, 0, 0], coords[k, 0, 1], "o", color=c, markersize=6, markerfacecolor="white")
        ax.plot(coords[k, -1, 0], coords[k, -1, 1], "*", color=c, markersize=11)
        ax.plot(coords[k, 1:-1, 0], coords[k, 1:-1, 1], ".", color=c, markersize=4)
        for j in labelled_points(coords[k], span):
            ax.annotate(f"{metric[k, j]:.0%}" if acc else f"{metric[k, j]:.2g}", coords[k, j], fontsize=5.5,
                        color=c, xytext=(2, 2), textcoords="offset points")
    ax.set(xlabel=f"PC 1 ({evr[0]:.1%} of variance)", ylabel=f"PC 2 ({evr[1]:.1%} of variance)", title=title)
    plots.legend_below(ax, ncols=4)
    cap = (f"{title}: the {coords.shape[0]} runs in one shared PCA basis, weights recorded at epochs "
           f"{', '.join(map(str, epochs))}; ○ start, ★ end; labels: test {res.metric} (where points crowd, "
           "the latest one's)"
           if acc else f"{title}: labels: training loss")
    return FigureSpec(key, cap + ".", fig)


def displacement_figure(res: Result) -> FigureSpec:
    """Each run's own displacement from its start, beside how far apart the runs start and end: the scale the PCA
    projections flatten away."""
    fig, (ax,) = plots.new_figure(width=6.4, height=3.2)
    runs = np.arange(len(res.displacement))
    ax.bar(runs, res.displacement, color=plots.COLORS[0], width=0.6, label="‖θ_end − θ_start‖ of the run")
    for value, style, label in ((res.start_dist.mean(), ":", "mean distance between runs at the start"),
                                (res.end_dist.mean(), "--", "… at the end")):
        ax.axhline(value, color=plots.COLORS[1], linestyle=style, linewidth=1.2, label=label)
    ax.set(xlabel="run", ylabel="Euclidean distance (all weights)", title="How far each run moved", xticks=runs)
    plots.legend_below(ax, ncols=3)
    return FigureSpec("displacement", "Each run's displacement from its own start (straight line, all weights), "
                                      "against the mean distance between the runs at the start and at the end.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    return [trajectory_figure(res, "whole", "Whole model"), trajectory_figure(res, "layer", "First layer"),
            displacement_figure(res)]


def runs_table(cfg: Config, res: Result) -> pd.DataFrame:
    """Per run: its seed, the metric at the first and last snapshot, and its displacement ‖θ_end − θ_start‖."""
    return pd.DataFrame({"run": np.arange(cfg.runs), "seed": np.arange(cfg.runs), "start": res.values[:, 0],
                         "end": res.values[:, -1], "displacement": res.displacement})


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = runs_table(cfg, res)
    if res.metric == "accuracy":
        n_test = cifar_test_images(cfg.data.n_test)
        t["start"] = [f"{v:.1%}" for v in t["start"]]
        t["end"] = [fmt_estimate(accuracy(v, n_test), "pct") for v in t["end"]]
    t = t.rename(columns={"start": f"{res.metric} at start",
                          "end": f"{res.metric} at end" + (" (± se)" if res.metric == "accuracy" else ""),
                          "displacement": "displacement ‖θ_end − θ_start‖"})
    return [TableSpec("runs", "Per run: the recorded metric at the first and last snapshot and the displacement of "
                              "its weights (straight-line distance from start to end, not the path length).", t)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    whole, layer = float(res.whole_evr.sum()), float(res.layer_evr.sum())
    k = res.whole.shape[0]
    even = 2 / (k - 1) if k > 1 else 1.0  # k runs from near-orthogonal starts span k − 1 equal directions
    out = [Finding("pca-variance", "Two components explain {w:pct} of the variance of the whole-model weights and "
                                   "{l:pct} for the first layer. Read them against {even:pct}: {k:int} runs that start "
                                   "in near-orthogonal directions and move apart spread the variance evenly over "
                                   "{k1:int} components, so two of them hold that share without any motion the runs "
                                   "share.",
                   {"w": whole, "l": layer, "k": k, "k1": k - 1, "even": even})]
    start, end = over_seeds(res.start_dist), over_seeds(res.end_dist)
    # Paired by pair of runs (end − start). The k(k−1)/2 pairs share their runs, so the error counts k draws, not the
    # pairs: a pair-count n would overstate what k runs can show.
    claim = paired("distance between runs", ("end", "start"), res.end_dist, res.start_dist, "pairs of runs", draws=k)
    change = Estimate(float(claim.values["difference"]), float(claim.uncertainty["se of the difference"]), k, "runs")
    out.append(Finding("run-distances",
                       "The runs start {s:sig} apart on average and end {e:sig} apart (Euclidean, all weights; "
                       "{r:ratio} the start distance; the change {c} over the {n:int} runs, its error counted per run "
                       "since every pair shares its runs), each displaced {d:sig} from its start on average: "
                       "{verdict}.",
                       {"s": start.value, "e": end.value, "c": fmt_estimate(change), "n": k,
                        "r": end.value / start.value, "d": float(res.displacement.mean()),
                        "verdict": {"<": "training brought the runs closer together",
                                    ">": "training moved the runs further apart"}.get(
                            claim.relation, "they end about as far apart as they started, indistinguishable at this "
                                            "scale")}, [claim]))
    final = res.values[:, -1]
    ok = np.isfinite(final)
    if not ok.any():
        return out
    lo, hi = int(np.nanargmin(final)), int(np.nanargmax(final))
    if res.metric == "accuracy":
        n_test = cifar_test_images(cfg.data.n_test)
        runs = final[ok]
        correct = np.round(runs * n_test)
        # Do the runs differ in accuracy at all? One χ² test of the k runs' right/wrong counts, not a best-vs-worst
        # pair, whose gap is the largest of many and would look clear by chance.
        p = float(stats.chi2_contingency(np.stack([correct, n_test - correct])).pvalue)
        claim = Claim("final test accuracy", ("best run", "worst run"), ">" if p < LEVEL else "≈",
                      {"best run": float(final[hi]), "worst run": float(final[lo])},
                      {"basis": "χ² test of homogeneity over the runs' test images", "n": int(ok.sum()), "p": p})
        out.append(Finding("final-accuracy-range",
                           "Final test accuracy ranges from {lo:pct} to {hi:pct} across the {k:int} runs "
                           "({spread:sig} points; χ² test over {n:count} test images each, p = {p:sig}): {verdict}.",
                           {"lo": float(final[lo]), "hi": float(final[hi]), "k": int(ok.sum()), "n": n_test, "p": p,
                            "spread": 100 * float(final[hi] - final[lo]),
                            "verdict": "the seeds differ in performance as well as in weights" if claim.relation == ">"
                            else "different end points, performance indistinguishable at this scale"}, [claim]))
    else:
        out.append(Finding("final-loss-range", "Final training loss ranges from {lo:sig} to {hi:sig} across runs "
                                               "({r:ratio}).", {"lo": float(final[lo]), "hi": float(final[hi]),
                                                                "r": float(final[hi] / final[lo])}))
    return out
