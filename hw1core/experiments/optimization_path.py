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


def train_one(cfg: Config, ctx, seed: int) -> dict[str, np.ndarray]:
    """One run's snapshots: all weights, the first layer's weights, and its metric, at every snapshot epoch."""
    task, loss = make_task(cfg, ctx)
    ens = engine.Ensemble(cfg.model, [seed], ctx.device)
    first = [n for n in ens.params][:2]  # the first layer's weight and bias
    snaps, layer, metric, epochs = [], [], [], []

    def record(epoch: int, ens: engine.Ensemble) -> None:
        if not is_snapshot(epoch + 1, cfg):
            return
        snaps.append(ens.flat_params()[0].cpu().numpy())
        layer.append(torch.cat([ens.params[n][0].detach().flatten() for n in first]).cpu().numpy())
        x, y = (task.train_x, task.train_y) if loss == "mse" else (task.test_x, task.test_y)
        l, acc = engine.evaluate(ens, x, y, task.transform, loss)
        metric.append((l if loss == "mse" else acc)[0])
        epochs.append(epoch + 1)

    record(-1, ens)
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.step_size, cfg.gamma, loss)
    hist = engine.train(ens, task, tc, desc=f"{ID} {cfg.model} run {seed + 1}/{cfg.runs}", seed=seed, epoch_hook=record)
    return {"snaps": np.stack(snaps), "layer": np.stack(layer), "metric": np.array(metric), "epochs": np.array(epochs),
            "steps": np.array(hist.steps)}


def paths(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The runs' trajectories projected on the top-2 PCA directions of all their snapshots together, whole model and
    first layer, with the distances between the runs at the start and the end."""
    snaps = np.stack([r["snaps"] for r in runs])  # runs × snapshots × P
    layer = np.stack([r["layer"] for r in runs])
    k, s = snaps.shape[:2]
    whole, whole_evr, _ = analysis.pca_2d(snaps.reshape(k * s, -1))
    first_layer, layer_evr, _ = analysis.pca_2d(layer.reshape(k * s, -1))
    start, end = snaps[:, 0], snaps[:, -1]
    return {"whole": whole.reshape(k, s, 2), "layer": first_layer.reshape(k, s, 2), "whole_evr": whole_evr,
            "layer_evr": layer_evr, "metric": np.stack([r["metric"] for r in runs]), "epochs": runs[0]["epochs"],
            "displacement": np.linalg.norm(end - start, axis=1),
            "start_dist": pairwise_distances(start), "end_dist": pairwise_distances(end),
            "steps": np.array(sum(int(r["steps"]) for r in runs))}


def run(cfg: Config, ctx) -> Results:
    # One stored part per run, so an interruption costs at most one run's training (3 minutes at full scale here).
    out = paths([ctx.part(f"run-{seed}", lambda seed=seed: train_one(cfg, ctx, seed)) for seed in range(cfg.runs)])
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]), "metric": "loss" if is_regression(cfg)
                          else "accuracy", "whole_evr": out["whole_evr"].tolist(), "layer_evr": out["layer_evr"].tolist(),
                          "displacement_mean": float(out["displacement"].mean()),
                          "start_dist_mean": float(out["start_dist"].mean()), "end_dist_mean": float(out["end_dist"].mean())},
                  arrays={k: out[k] for k in ("whole", "layer", "metric", "epochs")})
    res.tables["runs"] = pd.DataFrame({"run": np.arange(cfg.runs), "seed": np.arange(cfg.runs),
                                       "start": out["metric"][:, 0], "end": out["metric"][:, -1],
                                       "displacement": out["displacement"]})
    return res
