"""Compute stage. HW1-1 actual task: three CNNs on CIFAR-10 and three on MNIST."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from .. import data, engine
from ..context import Part, RunContext
from ..results import Dims
from ..rules import CIFAR, MNIST, all_of, architectures
from ..settings import setting, settings

ID = "actual-task"
TRANSFORMS = {"CIFAR-10": data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True),
              "MNIST": data.image_transform(None, None, augment=False)}


@settings
class Config:
    cifar_models: tuple[str, ...] = setting(("CNN-shallow", "CNN-deep", "CNN-wide"), all_of(architectures(CIFAR)))
    # StepLR(10, 0.1) from 4e-4 leaves 4e-7 from epoch 31, where nothing moves any more
    cifar: engine.TrainConfig = setting(engine.TrainConfig(epochs=30, batch_size=64, lr=4e-4, weight_decay=1e-4,
                                                           step_size=10, gamma=0.1), quick=dict(epochs=3))
    cifar_data: data.Sizes = setting(data.Sizes(), quick=dict(n_train=4000, n_test=1000))
    mnist_models: tuple[str, ...] = setting(("MNIST-CNN-1", "MNIST-CNN-2", "MNIST-CNN-3"), all_of(architectures(MNIST)))
    mnist: engine.TrainConfig = setting(engine.TrainConfig(epochs=15, batch_size=500, lr=1e-3, weight_decay=1e-4),
                                        quick=dict(epochs=3))
    mnist_data: data.Sizes = setting(data.Sizes(), quick=dict(n_train=10_000, n_test=2000))


@dataclass(frozen=True)
class Curves:
    """Per-epoch metrics of one model (a part), or of every model of one data set (model × epoch)."""
    steps: int
    train_loss: Annotated[np.ndarray, Dims("model", "epoch")]  # running means over each epoch's mini-batches
    train_acc: Annotated[np.ndarray, Dims("model", "epoch")]
    test_loss: Annotated[np.ndarray, Dims("model", "epoch")]  # evaluation mode, after each epoch
    test_acc: Annotated[np.ndarray, Dims("model", "epoch")]
    diverged_epoch: Annotated[np.ndarray, Dims("model")]  # 0 = never
    n_train: int  # images actually used
    n_test: int


@dataclass(frozen=True)
class Result:
    steps: int
    cifar: Curves  # models in the order of cfg.cifar_models
    mnist: Curves


def plan(cfg: Config) -> dict[str, tuple[tuple[str, ...], engine.TrainConfig, data.Sizes]]:
    """Per data set: its models, their training and the data sizes."""
    return {"CIFAR-10": (cfg.cifar_models, cfg.cifar, cfg.cifar_data),
            "MNIST": (cfg.mnist_models, cfg.mnist, cfg.mnist_data)}


def splits(cfg: Config, name: str, ctx: RunContext) -> tuple[data.Split, data.Split]:
    """The training and test images of one data set."""
    _, train_cfg, sizes = plan(cfg)[name]
    train, test = ctx.dataset(name)
    return train.subset(sizes.n_train or None, train_cfg.seed), test.subset(sizes.n_test or None, train_cfg.seed)


def train_one(arch: str, name: str, cfg: Config, ctx: RunContext) -> Curves:
    train_cfg = plan(cfg)[name][1]
    train, test = splits(cfg, name, ctx)
    stack = engine.Stack(arch, [train_cfg.seed], train.x.device)
    task = engine.Task(train.x, train.y, test.x, test.y, TRANSFORMS[name])
    h = engine.train(stack, task, train_cfg, desc=f"actual-task {arch}")
    return Curves(h.steps, h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.diverged_epoch, len(train.y),
                  len(test.y))


def dataset_parts(cfg: Config, name: str) -> list[Part]:
    return [Part(f"{name}-{arch}", Curves, functools.partial(train_one, arch, name, cfg)) for arch in plan(cfg)[name][0]]


def parts(cfg: Config) -> list[Part]:
    return [p for name in plan(cfg) for p in dataset_parts(cfg, name)]


def run(cfg: Config, ctx: RunContext) -> Result:
    per_dataset = []
    for name in plan(cfg):
        curves = [ctx.part(p) for p in dataset_parts(cfg, name)]
        joined = lambda k: np.concatenate([getattr(c, k) for c in curves])
        per_dataset.append(Curves(sum(c.steps for c in curves), joined("train_loss"), joined("train_acc"),
                                  joined("test_loss"), joined("test_acc"), joined("diverged_epoch"), curves[0].n_train,
                                  curves[0].n_test))
    cifar, mnist = per_dataset
    return Result(cifar.steps + mnist.steps, cifar, mnist)
