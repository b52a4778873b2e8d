"""Compute stage. HW1-3 flatness part 1: the loss along the line between two trained models,
θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from .. import analysis, engine, recipes
from ..context import Part, RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..results import Dims
from ..rules import (CIFAR, MAX_BATCH, MAX_GRID, MAX_IMAGES, MAX_MODELS, architectures, count, each_count,
                     MAX_RATE, MAX_ALPHA, between, both, each_positive_to, greater_than, holds, one_of, pair_of,
                     weights_of)
from ..settings import setting, settings

ID = "interpolation"


@settings
class Config:
    model: str = setting("CNN-shallow", one_of(architectures(CIFAR)))
    # The batch pair trains at train.lr, the learning-rate pair at train.batch_size.
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=25, batch_size=64, lr=1e-3), quick=dict(epochs=3))
    batches: tuple[int, ...] = setting((64, 1024), pair_of(each_count(MAX_BATCH), "batch sizes"))
    lrs: tuple[float, ...] = setting((1e-3, 1e-2), pair_of(each_positive_to(MAX_RATE), "positive learning rates"))
    data: Sizes = setting(Sizes(), quick=dict(n_train=3000, n_test=1000))
    n_eval_train: int = setting(10_000, count(MAX_IMAGES), quick=1000)  # training images behind the training metrics
    alpha_min: float = setting(-1.0, between(-MAX_ALPHA, MAX_ALPHA))
    alpha_max: float = setting(2.0, both(between(-MAX_ALPHA, MAX_ALPHA), greater_than("alpha_min")))
    n_alpha: int = setting(31, both(count(MAX_GRID, low=3), holds(lambda c: c.n_alpha * weights_of(c.model),
                                                                     "n_alpha weight sets of the model")), quick=16)
    seeds: int = setting(3, count(MAX_MODELS), quick=1)  # one pair of models, and its line, per seed 0 .. seeds − 1


@dataclass(frozen=True)
class Line:
    """One pair of trained models and the line through them, evaluated at every α."""
    steps: int
    alpha: Annotated[np.ndarray, Dims("alpha")]
    train_loss: Annotated[np.ndarray, Dims("alpha")]  # evaluation mode, unaugmented training images
    train_acc: Annotated[np.ndarray, Dims("alpha")]
    test_loss: Annotated[np.ndarray, Dims("alpha")]
    test_acc: Annotated[np.ndarray, Dims("alpha")]
    end_train_loss: Annotated[np.ndarray, Dims("end")]  # the two trained models (α = 0 and 1)
    end_train_acc: Annotated[np.ndarray, Dims("end")]
    end_test_loss: Annotated[np.ndarray, Dims("end")]
    end_test_acc: Annotated[np.ndarray, Dims("end")]
    end_weight_norm: Annotated[np.ndarray, Dims("end")]  # ‖θ₁‖, ‖θ₂‖: each end's scale, to normalise its sharpness
    distance: float  # ‖θ₂ − θ₁‖: how far one step of α moves the weights, as a multiple of the α step


@dataclass(frozen=True)
class Lines:
    """One pair's lines, one per seed."""
    steps: int
    alpha: Annotated[np.ndarray, Dims("alpha")]
    train_loss: Annotated[np.ndarray, Dims("seed", "alpha")]
    train_acc: Annotated[np.ndarray, Dims("seed", "alpha")]
    test_loss: Annotated[np.ndarray, Dims("seed", "alpha")]
    test_acc: Annotated[np.ndarray, Dims("seed", "alpha")]
    end_train_loss: Annotated[np.ndarray, Dims("seed", "end")]
    end_train_acc: Annotated[np.ndarray, Dims("seed", "end")]
    end_test_loss: Annotated[np.ndarray, Dims("seed", "end")]
    end_test_acc: Annotated[np.ndarray, Dims("seed", "end")]
    end_weight_norm: Annotated[np.ndarray, Dims("seed", "end")]
    distance: Annotated[np.ndarray, Dims("seed")]


@dataclass(frozen=True)
class Result:
    steps: int
    batch: Lines  # cfg.batches[0] → cfg.batches[1]
    lr: Lines  # cfg.lrs[0] → cfg.lrs[1]


PAIRS = ("batch", "lr")


def pairs(cfg: Config, seed: int) -> dict[str, list[recipes.CifarRun]]:
    """Per pair, its two models for one seed (the same initialisation for both)."""
    run = lambda **changes: recipes.CifarRun(cfg.model, dataclasses.replace(cfg.train, seed=seed, **changes),
                                             cfg.data, cfg.n_eval_train)
    return {"batch": [run(batch_size=b) for b in cfg.batches], "lr": [run(lr=lr) for lr in cfg.lrs]}


def interpolate(cfg: Config, name: str, seed: int, ctx: RunContext) -> Line:
    runs = pairs(cfg, seed)[name]
    ends = [recipes.train_cifar(r, ctx) for r in runs]
    stack = engine.Stack(cfg.model, [seed], ctx.device)
    weights = recipes.stacked_weights(stack, ends)
    alphas = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.n_alpha)
    coeff = torch.tensor(alphas, dtype=torch.float32, device=ctx.device).unsqueeze(1)
    start = {n: v[0] for n, v in weights.items()}
    line = analysis.combine(start, [{n: v[1] - v[0] for n, v in weights.items()}], coeff)
    _, train_eval, test = recipes.splits(runs[0], ctx)
    metrics = [engine.evaluate(stack, s.x, s.y, recipes.CIFAR_TRANSFORM, params=line, chunk=16)
               for s in (train_eval, test)]
    end = lambda k: np.array([getattr(e, k) for e in ends])
    return Line(sum(e.steps for e in ends), alphas, metrics[0][0], metrics[0][1], metrics[1][0], metrics[1][1],
                end("final_train_loss"), end("final_train_acc"), end("final_test_loss"), end("final_test_acc"),
                np.array([np.linalg.norm(e.weights) for e in ends]),
                float(np.linalg.norm(ends[1].weights - ends[0].weights)))


def line_parts(cfg: Config) -> dict[tuple[str, int], Part]:
    """Per pair and seed, the line through its two trained models."""
    return {(name, seed): Part(f"line-{name}-seed-{seed}", Line, functools.partial(interpolate, cfg, name, seed),
                               needs=tuple(recipes.model_part(r) for r in runs))
            for seed in range(cfg.seeds) for name, runs in pairs(cfg, seed).items()}


def parts(cfg: Config) -> list[Part]:
    lines = list(line_parts(cfg).values())
    return [m for line in lines for m in line.needs] + lines


def stacked(lines: list[Line]) -> Lines:
    """The lines of one pair, one per seed, as one record."""
    rows = lambda name: np.stack([getattr(line, name) for line in lines])
    return Lines(sum(line.steps for line in lines), lines[0].alpha, rows("train_loss"), rows("train_acc"),
                 rows("test_loss"), rows("test_acc"), rows("end_train_loss"), rows("end_train_acc"),
                 rows("end_test_loss"), rows("end_test_acc"), rows("end_weight_norm"), rows("distance"))


def run(cfg: Config, ctx: RunContext) -> Result:
    lines = {key: ctx.part(p) for key, p in line_parts(cfg).items()}
    by_pair = {name: stacked([lines[name, seed] for seed in range(cfg.seeds)]) for name in PAIRS}
    return Result(sum(line.steps for line in by_pair.values()), by_pair["batch"], by_pair["lr"])
