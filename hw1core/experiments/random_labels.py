"""Compute stage. HW1-3 random labels: an MLP memorises MNIST with shuffled training labels (Zhang et al. 2017)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F

from .. import data, engine
from ..context import Part, RunContext
from ..data import Sizes  # a field named `data` would hide the module inside the class body
from ..results import Dims
from ..rules import MNIST_32, architectures, non_negative, one_of
from ..settings import setting, settings

ID = "random-labels"


@settings
class Config:
    model: str = setting("MLP-random-labels", one_of(architectures(MNIST_32)))
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=1000, batch_size=100, lr=1e-4),
                                        quick=dict(epochs=40))
    data: Sizes = setting(Sizes(), quick=dict(n_train=2000, n_test=2000))
    label_seed: int = setting(0, non_negative)  # the permutation of the training labels


@dataclass(frozen=True)
class Result:
    steps: int
    label_agreement: float  # share of the permuted training labels that equal the true ones
    train_loss: Annotated[np.ndarray, Dims("epoch")]  # on the permuted labels, running mean over the epoch
    train_acc: Annotated[np.ndarray, Dims("epoch")]
    test_loss: Annotated[np.ndarray, Dims("epoch")]  # true labels, evaluation mode
    test_acc: Annotated[np.ndarray, Dims("epoch")]
    diverged_epoch: int  # 0 = never


def resized(split: data.Split) -> data.Split:
    x = F.interpolate(split.x.float(), size=32, mode="bilinear", align_corners=False)
    return data.Split(x.round().clamp(0, 255).to(torch.uint8), split.y)


def shuffled_labels(y: torch.Tensor, seed: int) -> torch.Tensor:
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    return y[perm]


def train_run(cfg: Config, ctx: RunContext) -> Result:
    train, test = ctx.dataset("MNIST")
    seed = cfg.train.seed
    train, test = resized(train.subset(cfg.data.n_train or None, seed)), resized(test.subset(cfg.data.n_test or None, seed))
    noisy = shuffled_labels(train.y, cfg.label_seed)
    transform = data.image_transform(data.MNIST_MEAN, data.MNIST_STD, augment=False)
    stack = engine.Stack(cfg.model, [seed], ctx.device)
    h = engine.train(stack, engine.Task(train.x, noisy, test.x, test.y, transform), cfg.train, desc=ID)
    return Result(h.steps, float((noisy == train.y).float().mean()), h.train_loss[0], h.train_acc[0], h.test_loss[0],
                  h.test_acc[0], int(h.diverged_epoch[0]))


def parts(cfg: Config) -> list[Part]:
    return [Part("run", Result, functools.partial(train_run, cfg))]


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part(parts(cfg)[0])
