"""Report section. HW1-2 optimisation path: 8 runs of one architecture, weights every 3 epochs, one shared PCA."""
from __future__ import annotations

import numpy as np

from hw1core import models
from hw1core.experiments.optimization_path import Config, is_regression
from hw1core.results import Results

from .. import plots
from ..format import schedule_text
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Visualise the optimisation process"
PART = "HW1-2 Optimization"

QUESTIONS = [
    Question("Describe the settings: recording cycle, optimiser, reduction method", "1", ["setup"]),
    Question("The 8 runs for the whole model and for one layer, in separate figures", "1", ["fig:whole", "fig:layer"]),
    Question("Comment on the results", "1", ["table:runs", "findings"]),
]
FIGURES = ("whole", "layer")
TABLES = ("runs",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    task = (f"f1 regression ({cfg.n_points} points), MSE; points labelled with the training loss" if is_regression(cfg)
            else "CIFAR-10 classification, cross-entropy; points labelled with test accuracy "
                 f"({'all' if not cfg.n_test else f'{cfg.n_test:,}'} test images)")
    sched = schedule_text(cfg.lr, cfg.step_size, cfg.gamma, cfg.epochs)
    return [
        ("Task", task),
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params), {cfg.runs} runs, seeds "
                  f"0–{cfg.runs - 1}, trained together as one stacked model"),
        ("Optimiser", f"Adam, lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, {sched}; batch {cfg.batch_size}; "
                      f"{cfg.epochs} epochs" + ("" if is_regression(cfg) else
                                                 f" on {'all' if not cfg.n_train else f'{cfg.n_train:,}'} training images")),
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


def trajectory_figure(res: Results, key: str, title: str) -> FigureSpec:
    coords, metric, epochs = res.arrays[key], res.arrays["metric"], res.arrays["epochs"]
    evr = res.values[f"{key}_evr"]
    fig, (ax,) = plots.new_figure(width=6.4, height=5.0)
    acc = res.values["metric"] == "accuracy"
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
    ax.legend(fontsize=7, ncols=4, loc="best")
    cap = (f"{title}: the {coords.shape[0]} runs in one shared PCA basis, weights recorded at epochs "
           f"{', '.join(map(str, epochs))}; ○ start, ★ end; labels: test {res.values['metric']} (where points crowd, "
           "the latest one's)"
           if acc else f"{title}: labels: training loss")
    return FigureSpec(key, cap + ".", fig)


def figures(res: Results) -> list[FigureSpec]:
    return [trajectory_figure(res, "whole", "Whole model"), trajectory_figure(res, "layer", "First layer")]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["runs"].copy()
    if res.values["metric"] == "accuracy":
        t["start"], t["end"] = [f"{v:.1%}" for v in t["start"]], [f"{v:.1%}" for v in t["end"]]
    t = t.rename(columns={"start": f"{res.values['metric']} at start", "end": f"{res.values['metric']} at end",
                          "displacement": "displacement ‖θ_end − θ_start‖"})
    return [TableSpec("runs", "Per run: the recorded metric at the first and last snapshot and the displacement of "
                              "its weights (straight-line distance from start to end, not the path length).", t)]


def findings(res: Results) -> list[Finding]:
    v, t = res.values, res.tables["runs"]
    out = [Finding("Two components explain {w:pct} of the variance of the whole-model weights and {l:pct} for the "
                   "first layer, so the figures show {what} of the motion.",
                   {"w": sum(v["whole_evr"]), "l": sum(v["layer_evr"]),
                    "what": "most" if sum(v["whole_evr"]) > 0.5 else "only part"})]
    ratio = v["end_dist_mean"] / v["start_dist_mean"]
    out.append(Finding("The runs start {s:sig} apart on average and end {e:sig} apart ({r:ratio} the start distance; "
                       "Euclidean, all weights), each displaced {d:sig} from its start on average: {verdict}.",
                       {"s": v["start_dist_mean"], "e": v["end_dist_mean"], "r": ratio, "d": v["displacement_mean"],
                        "verdict": "training brought the runs closer together" if ratio < 0.9 else
                        "training moved the runs further apart" if ratio > 1.1 else
                        "they end about as far apart as they started"}))
    lo, hi = t["end"].min(), t["end"].max()
    if v["metric"] == "accuracy":
        spread = 100 * (hi - lo)
        out.append(Finding("Final test accuracy ranges from {lo:pct} to {hi:pct} across runs ({spread:sig} points): "
                           "{verdict}.", {"lo": lo, "hi": hi, "spread": spread,
                                          "verdict": "different end points, similar performance" if spread < 3 else
                                          "the seeds differ in performance as well as in weights"}))
    else:
        out.append(Finding("Final training loss ranges from {lo:sig} to {hi:sig} across runs ({r:ratio}).",
                           {"lo": lo, "hi": hi, "r": hi / lo}))
    return out


def headline(res: Results) -> dict:
    v, t = res.values, res.tables["runs"]
    return {"pca_variance_whole": sum(v["whole_evr"]), "pca_variance_layer": sum(v["layer_evr"]),
            "start_distance_mean": v["start_dist_mean"], "end_distance_mean": v["end_dist_mean"],
            "displacement_mean": v["displacement_mean"], "metric": v["metric"],
            "final_metric_min": t["end"].min(), "final_metric_max": t["end"].max()}
