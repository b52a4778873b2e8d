"""Results built by hand, for testing what a section says about numbers chosen to make a claim true or false."""
import dataclasses

import numpy as np
import pandas as pd

from hw1core import engine
from hw1core.experiments import (actual_task, error_surface, grad_norm, interpolation, minimal_ratio,
                                 optimization_path, sensitivity, simulate)


def simulate_result(models: list[str], final_losses: list[float], seeds: int = 3, variance: float = 0.0869,
                    spread: float = 0.0) -> tuple[simulate.Config, simulate.Result]:
    """One function (f1); the seeds of model j end at final_losses[j]·(1 + spread·(−1, 0, 1, ...)) after an epoch at
    twice that."""
    cfg = dataclasses.replace(simulate.Config(), models=tuple(models), functions=("f1",), seeds=seeds)
    offsets = np.arange(seeds) - (seeds - 1) / 2
    loss = np.array([[[[2 * v, v * (1 + spread * o)] for o in offsets] for v in final_losses]])  # fn × model × seed × epoch
    grid = np.linspace(-1, 1, 5)
    return cfg, simulate.Result(steps=0, x=grid, grid=grid, truth=np.zeros((1, 5)), target_variance=np.array([variance]),
                                loss=loss, pred=np.zeros((1, len(models), seeds, 5)),
                                diverged_epoch=np.zeros((1, len(models), seeds), int))


def actual_task_result(train_acc: list[float], test_acc: list[float], plateau: int, epochs: int = 30,
                       step: int = 10) -> tuple[actual_task.Config, actual_task.Result]:
    """MNIST models whose test accuracy climbs to its final value by epoch `plateau` and stays; CIFAR-10 unused."""
    archs = ("MNIST-CNN-1", "MNIST-CNN-2", "MNIST-CNN-3")[:len(train_acc)]
    cfg = dataclasses.replace(actual_task.Config(), cifar_models=(), mnist_models=archs,
                              mnist=engine.TrainConfig(epochs=epochs, step_size=step, gamma=0.1))
    ramp = np.minimum(np.arange(1, epochs + 1) / plateau, 1.0)
    curve = lambda final: np.array([f * ramp for f in final])
    flat = lambda final: np.array([[f] * epochs for f in final])
    mnist = actual_task.Curves(0, flat([0.1] * len(archs)), flat(train_acc), flat([0.1] * len(archs)),
                               curve(test_acc), np.zeros(len(archs), int), 60_000, 10_000)
    empty = actual_task.Curves(0, *(np.zeros((0, epochs)) for _ in range(4)), np.zeros(0, int), 0, 0)
    return cfg, actual_task.Result(0, empty, mnist)


def grad_norm_result(epoch_norm: np.ndarray, epoch_loss: np.ndarray, steps_per_epoch: int = 5,
                     full_norm: np.ndarray | None = None):
    """One run whose every step of an epoch has that epoch's norm and loss; the full-batch norm defaults to half the
    mini-batch one."""
    cfg = grad_norm.Config()
    norm = np.repeat(epoch_norm, steps_per_epoch)
    full = 0.5 * np.asarray(epoch_norm) if full_norm is None else full_norm
    return cfg, grad_norm.Result(len(norm), steps_per_epoch, norm, np.repeat(epoch_loss, steps_per_epoch), epoch_loss,
                                 full)


def optimization_path_result(start: list[float], end: list[float], start_dist: float, end_dist: float,
                             displacement: float):
    """Two runs with the given test accuracy at their first and last snapshot and the given distances."""
    k = len(start)
    cfg = dataclasses.replace(optimization_path.Config(), runs=k)
    coords = np.zeros((k, 2, 2))
    return cfg, optimization_path.Result(0, "accuracy", coords, coords, np.array([0.5, 0.2]), np.array([0.6, 0.2]),
                                         np.array([start, end]).T, np.array([0, 30]), np.full(k, displacement),
                                         np.full(k * (k - 1) // 2, start_dist), np.full(k * (k - 1) // 2, end_dist),
                                         np.zeros(k, int))


def sensitivity_result(jacobian: list[float], loss_grad: list[float], diverged_batch: int | None = None,
                       diverged_lr: float | None = None, at_chance_lr: float | None = None, seeds: int = 3):
    """A batch sweep (16 … 1024 at lr 1e-3), the same batches with a scaled lr, and an lr sweep (1e-2 … 1e-5 at batch
    512), whose gap widens along the sweep, with the given sensitivities, each seed 1 % above the one before;
    optionally one more run (seed 0) that diverged in epoch 3, and one that ended at chance (training loss ln 10,
    accuracy 10 %)."""
    rows = [{"sweep": "batch", "seed": 0, "batch": b, "lr": 1e-3, "steps": 10, "diverged_epoch": 0, "train_loss": 0.5,
             "test_loss": 0.5 + 0.1 * i, "train_acc": 0.8, "test_acc": 0.7, "jacobian": j, "loss_grad": g}
            for i, (b, j, g) in enumerate(zip((16, 64, 256, 1024), jacobian, loss_grad))]
    rows += [{**r, "sweep": "scaled", "lr": 1e-3 * (r["batch"] / 512) ** 0.5} for r in rows[:4]]
    rows += [{**r, "sweep": "lr", "batch": 512, "lr": lr} for r, lr in zip(rows, (1e-2, 1e-3, 1e-4, 1e-5))]
    rows += [{**r, "seed": s, **{k: r[k] * (1 + 0.01 * s) for k in ("test_loss", "jacobian", "loss_grad")}}
             for s in range(1, seeds) for r in rows[:12]]
    broken = {"diverged_epoch": 3, "train_loss": np.nan, "test_loss": np.nan, "jacobian": np.nan, "loss_grad": np.nan}
    if diverged_batch:
        rows.append({**rows[0], **broken, "batch": diverged_batch})
    if diverged_lr:
        rows.append({**rows[8], **broken, "lr": diverged_lr})
    if at_chance_lr:
        rows.append({**rows[8], "lr": at_chance_lr, "train_loss": np.log(10), "test_loss": np.log(10),
                     "train_acc": 0.1, "test_acc": 0.1, "jacobian": 1e-6, "loss_grad": 1e-6})
    runs = pd.DataFrame(rows)
    return sensitivity.Config(), sensitivity.Result(10 * len(rows), runs, np.zeros((len(rows), 3), np.float32))


def interpolation_result(alpha: np.ndarray, train_loss: np.ndarray, end_train_loss: np.ndarray | None = None,
                         end_train_acc: np.ndarray | None = None, end_weight_norm: np.ndarray | None = None):
    """Both pairs along the same lines, one row of `train_loss` per seed (a 1-D `train_loss` is one seed); test loss
    the same, accuracy 0.5 along the line. The trained ends (seed × end) have loss 1 and accuracy 1 unless
    `end_train_loss` / `end_train_acc` say otherwise (ln 10 and 0.1: an end at chance); both ends have weight norm 10
    unless `end_weight_norm` says otherwise, and sit 1 apart."""
    loss = np.atleast_2d(np.asarray(train_loss, float))
    seeds = len(loss)
    half, ones = np.full_like(loss, 0.5), np.ones((seeds, 2))
    end_loss = ones if end_train_loss is None else np.asarray(end_train_loss, float)
    end_acc = ones if end_train_acc is None else np.asarray(end_train_acc, float)
    norm = np.full((seeds, 2), 10.0) if end_weight_norm is None else np.asarray(end_weight_norm, float)
    lines = interpolation.Lines(0, alpha, loss, half, loss, half, end_loss, end_acc, ones, ones, norm, np.ones(seeds))
    cfg = dataclasses.replace(interpolation.Config(), alpha_min=float(alpha[0]), alpha_max=float(alpha[-1]),
                              n_alpha=len(alpha), seeds=seeds)
    return cfg, interpolation.Result(0, lines, lines)


def minimal_ratio_result(runs: pd.DataFrame):
    return minimal_ratio.Config(), minimal_ratio.Result(0, runs)


def error_surface_result(center: float, grid_min: float, at: tuple[float, float]):
    """A 5 × 5 random-direction grid at loss 3 everywhere but the centre and one lower point."""
    axis = np.linspace(-1, 1, 5)
    grid = np.full((5, 5), 3.0)
    grid[2, 2] = center
    grid[list(axis).index(at[0]), list(axis).index(at[1])] = grid_min
    cfg = dataclasses.replace(error_surface.Config(), grid=5)
    return cfg, error_surface.Result(0, axis, grid, axis, axis, grid, np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]]),
                                     np.array([0.6, 0.3]), np.ones(2))
