"""HW1-2 optimisation path: 8 runs of one architecture, weights every 3 epochs, one shared PCA."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import analysis, data, engine, models, plots
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..store import Results

ID = "optimization-path"
TITLE = "Visualise the optimisation process"
PART = "HW1-2 Optimization"


@dataclass
class Config:
    model: str = "CNN-21"  # an MLP name (e.g. MLP-middle) fits f1 instead of CIFAR-10, as report V did
    runs: int = 8
    epochs: int = 50
    every: int = 3
    batch_size: int = 1000
    lr: float = 4e-4
    weight_decay: float = 1e-4
    step_size: int = 10
    gamma: float = 0.1
    n_train: int = 0  # CIFAR-10 training images (0 = all)
    n_test: int = 0
    n_points: int = 300  # f1 points for the MLP option


QUICK = dict(epochs=6, n_train=1000, n_test=500, batch_size=100)

QUESTIONS = [
    Question("Describe the settings: recording cycle, optimiser, reduction method", "1", ["setup"]),
    Question("The 8 runs for the whole model and for one layer, in separate figures", "1", ["fig:whole", "fig:layer"]),
    Question("Comment on the results", "1", ["table:runs", "findings"]),
]


def is_regression(cfg: Config) -> bool:
    return models.ARCHS[cfg.model].input_shape == (1,)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    task = (f"f1 regression ({cfg.n_points} points), MSE; points labelled with the training loss" if is_regression(cfg)
            else "CIFAR-10 classification, cross-entropy; points labelled with test accuracy "
                 f"({'all' if not cfg.n_test else f'{cfg.n_test:,}'} test images)")
    sched = f"StepLR ×{cfg.gamma:g} every {cfg.step_size} epochs" if cfg.step_size else "constant learning rate"
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


def make_task(cfg: Config, ctx) -> tuple[engine.Task, str]:
    if is_regression(cfg):
        x, y = data.function_points("f1", cfg.n_points, ctx.device)
        return engine.Task(x, y), "mse"
    train, test = ctx.dataset("CIFAR-10")
    train, test = train.subset(cfg.n_train or None), test.subset(cfg.n_test or None)
    return engine.Task(train.x, train.y, test.x, test.y, data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True)), "ce"


def train_runs(cfg: Config, ctx) -> dict:
    task, loss = make_task(cfg, ctx)
    ens = engine.Ensemble(cfg.model, list(range(cfg.runs)), ctx.device)
    first = [n for n in ens.params][:2]  # the first layer's weight and bias
    snaps, layer, metric, epochs = [], [], [], []

    def record(epoch: int, ens: engine.Ensemble) -> None:
        if epoch >= 0 and (epoch + 1) % cfg.every:
            return
        snaps.append(ens.flat_params().cpu().numpy())
        layer.append(torch.cat([ens.params[n].detach().flatten(1) for n in first], 1).cpu().numpy())
        x, y = (task.train_x, task.train_y) if loss == "mse" else (task.test_x, task.test_y)
        l, acc = engine.evaluate(ens, x, y, task.transform, loss)
        metric.append(l if loss == "mse" else acc)
        epochs.append(epoch + 1)

    record(-1, ens)
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.step_size, cfg.gamma, loss)
    hist = engine.train(ens, task, tc, desc=f"{ID} {cfg.model}×{cfg.runs}", epoch_hook=record)
    whole, whole_evr, _ = analysis.pca_2d(np.concatenate(snaps, 0))
    first_layer, layer_evr, _ = analysis.pca_2d(np.concatenate(layer, 0))
    s, k = len(snaps), cfg.runs
    start, end = snaps[0], snaps[-1]
    return {"whole": whole.reshape(s, k, 2).transpose(1, 0, 2), "layer": first_layer.reshape(s, k, 2).transpose(1, 0, 2),
            "whole_evr": whole_evr, "layer_evr": layer_evr, "metric": np.stack(metric, 1), "epochs": np.array(epochs),
            "travel": np.linalg.norm(end - start, axis=1),
            "end_dist": np.linalg.norm(end[:, None] - end[None], axis=2)[np.triu_indices(k, 1)],
            "steps": np.array(hist.steps), "diverged": hist.diverged_epoch}


def run(cfg: Config, ctx) -> Results:
    out = ctx.part("runs", lambda: train_runs(cfg, ctx))
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]), "metric": "loss" if is_regression(cfg)
                          else "accuracy", "whole_evr": out["whole_evr"].tolist(), "layer_evr": out["layer_evr"].tolist(),
                          "travel_mean": float(out["travel"].mean()), "end_dist_mean": float(out["end_dist"].mean())},
                  arrays={k: out[k] for k in ("whole", "layer", "metric", "epochs")})
    res.tables["runs"] = pd.DataFrame({"run": np.arange(cfg.runs), "seed": np.arange(cfg.runs),
                                       "start": out["metric"][:, 0], "end": out["metric"][:, -1],
                                       "distance travelled": out["travel"]})
    return res


def trajectory_figure(res: Results, key: str, title: str) -> FigureSpec:
    coords, metric, epochs = res.arrays[key], res.arrays["metric"], res.arrays["epochs"]
    evr = res.values[f"{key}_evr"]
    fig, (ax,) = plots.new_figure(width=6.4, height=5.0)
    acc = res.values["metric"] == "accuracy"
    for k in range(coords.shape[0]):
        c = plots.COLORS[k % len(plots.COLORS)]
        ax.plot(coords[k, :, 0], coords[k, :, 1], "-", color=c, linewidth=1, alpha=0.8, label=f"run {k}")
        ax.plot(coords[k, 0, 0], coords[k, 0, 1], "o", color=c, markersize=6, markerfacecolor="white")
        ax.plot(coords[k, -1, 0], coords[k, -1, 1], "*", color=c, markersize=11)
        ax.plot(coords[k, 1:-1, 0], coords[k, 1:-1, 1], ".", color=c, markersize=4)
        for j in range(coords.shape[1]):
            ax.annotate(f"{metric[k, j]:.0%}" if acc else f"{metric[k, j]:.2g}", coords[k, j], fontsize=5.5,
                        color=c, xytext=(2, 2), textcoords="offset points")
    ax.set(xlabel=f"PC 1 ({evr[0]:.1%} of variance)", ylabel=f"PC 2 ({evr[1]:.1%} of variance)", title=title)
    ax.legend(fontsize=7, ncols=4, loc="best")
    cap = (f"{title}: the {coords.shape[0]} runs in one shared PCA basis, weights recorded at epochs "
           f"{', '.join(map(str, epochs))}; ○ start, ★ end; labels: test {res.values['metric']}"
           if acc else f"{title}: labels: training loss")
    return FigureSpec(key, cap + ".", fig)


def figures(res: Results) -> list[FigureSpec]:
    return [trajectory_figure(res, "whole", "Whole model"), trajectory_figure(res, "layer", "First layer")]


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["runs"].copy()
    if res.values["metric"] == "accuracy":
        t["start"], t["end"] = [f"{v:.1%}" for v in t["start"]], [f"{v:.1%}" for v in t["end"]]
    t = t.rename(columns={"start": f"{res.values['metric']} at start", "end": f"{res.values['metric']} at end",
                          "distance travelled": "‖θ_end − θ_start‖"})
    return [TableSpec("runs", "Per run: the recorded metric at the first and last snapshot and the distance its "
                              "weights travelled.", t)]


def findings(res: Results) -> list[Finding]:
    v, t = res.values, res.tables["runs"]
    out = [Finding("Two components explain {w:pct} of the variance of the whole-model weights and {l:pct} for the "
                   "first layer, so the figures show {what} of the motion.",
                   {"w": sum(v["whole_evr"]), "l": sum(v["layer_evr"]),
                    "what": "most" if sum(v["whole_evr"]) > 0.5 else "only part"})]
    ratio = v["end_dist_mean"] / v["travel_mean"]
    out.append(Finding("The runs end {d:sig} apart on average (Euclidean, all weights) after travelling {t:sig} each "
                       "from their starts ({r:ratio}): {verdict}.",
                       {"d": v["end_dist_mean"], "t": v["travel_mean"], "r": ratio,
                        "verdict": "every seed settles in its own region of weight space" if ratio > 0.5 else
                        "the runs end close together relative to how far they moved"}))
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
