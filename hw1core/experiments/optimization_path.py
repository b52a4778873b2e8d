"""Compute stage. HW1-2 optimisation path: 8 runs of one architecture, weights every 3 epochs, one shared PCA."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from .. import analysis, data, engine, models
from ..results import Results
from ..rules import CIFAR, FUNCTION, architectures, decay, non_negative, one_of, positive

ID = "optimization-path"


@dataclass
class Config:
    model: str = "CNN-21"  # an MLP name (e.g. MLP-middle) fits f1 instead of CIFAR-10, as report V did
    runs: int = 8
    epochs: int = 30  # as actual-task: the schedule has stopped learning by then (report R ran 50)
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
RULES = dict(model=one_of(architectures(CIFAR) + architectures(FUNCTION)), runs=positive, epochs=positive, every=positive,
             batch_size=positive, lr=positive, weight_decay=non_negative, step_size=non_negative, gamma=decay,
             n_train=non_negative, n_test=non_negative, n_points=positive)


def is_regression(cfg: Config) -> bool:
    return models.ARCHS[cfg.model].input_shape == (1,)


def is_snapshot(epochs_done: int, cfg: Config) -> bool:
    """The weights are recorded at the start, every `every` epochs, and always after the last epoch."""
    return epochs_done % cfg.every == 0 or epochs_done == cfg.epochs


def make_task(cfg: Config, ctx) -> tuple[engine.Task, str]:
    if is_regression(cfg):
        x, y = data.function_points("f1", cfg.n_points, ctx.device)
        return engine.Task(x, y), "mse"
    train, test = ctx.dataset("CIFAR-10")
    train, test = train.subset(cfg.n_train or None), test.subset(cfg.n_test or None)
    return engine.Task(train.x, train.y, test.x, test.y, data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True)), "ce"


def pairwise_distances(weights: np.ndarray) -> np.ndarray:
    """Euclidean distances between every pair of rows (runs)."""
    k = len(weights)
    return np.linalg.norm(weights[:, None] - weights[None], axis=2)[np.triu_indices(k, 1)]


def train_runs(cfg: Config, ctx) -> dict:
    task, loss = make_task(cfg, ctx)
    ens = engine.Ensemble(cfg.model, list(range(cfg.runs)), ctx.device)
    first = [n for n in ens.params][:2]  # the first layer's weight and bias
    snaps, layer, metric, epochs = [], [], [], []

    def record(epoch: int, ens: engine.Ensemble) -> None:
        if not is_snapshot(epoch + 1, cfg):
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
            "displacement": np.linalg.norm(end - start, axis=1),
            "start_dist": pairwise_distances(start), "end_dist": pairwise_distances(end),
            "steps": np.array(hist.steps), "diverged": hist.diverged_epoch}


def run(cfg: Config, ctx) -> Results:
    out = ctx.part("runs", lambda: train_runs(cfg, ctx))
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]), "metric": "loss" if is_regression(cfg)
                          else "accuracy", "whole_evr": out["whole_evr"].tolist(), "layer_evr": out["layer_evr"].tolist(),
                          "displacement_mean": float(out["displacement"].mean()),
                          "start_dist_mean": float(out["start_dist"].mean()), "end_dist_mean": float(out["end_dist"].mean())},
                  arrays={k: out[k] for k in ("whole", "layer", "metric", "epochs")})
    res.tables["runs"] = pd.DataFrame({"run": np.arange(cfg.runs), "seed": np.arange(cfg.runs),
                                       "start": out["metric"][:, 0], "end": out["metric"][:, -1],
                                       "displacement": out["displacement"]})
    return res
