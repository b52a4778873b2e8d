"""Compute stage. HW1-3 random labels: an MLP memorises MNIST with shuffled training labels (Zhang et al. 2017), on\ntraining sets of several sizes."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F

from .. import data, engine
from ..context import Part, RunContext
from ..results import Dims
from ..rules import MAX_IMAGES, MAX_SEED, MNIST, MNIST_32, architectures, count, each_count, one_of
from ..settings import setting, settings

ID = "random-labels"


@settings
class Config:
    model: str = setting("MLP-random-labels", one_of(architectures(MNIST_32)))
    # lr 3e-4 memorises 10,000 shuffled labels within 300 epochs, minutes on one CPU thread; on all 60,000 images
    # no rate tried (1e-4 to 1e-3) got past 40 % in 180 epochs, so the sizes show how memorising grows with n.
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=300, batch_size=100, lr=3e-4),
                                        quick=dict(epochs=60))
    sizes: tuple[int, ...] = setting((2500, 5000, 10_000, 20_000), each_count(MAX_IMAGES), quick=(500, 1000))  # training images
    n_test: int = setting(0, count(MAX_IMAGES, low=0), quick=2000)  # test images (true labels); 0 = all 10,000
    label_seed: int = setting(0, count(MAX_SEED, low=0))  # the permutation of each training subset's labels


@dataclass(frozen=True)
class Run:
    """One training-set size: the network trained on shuffled labels, measured every epoch."""
    steps: int
    label_agreement: float  # share of the permuted training labels that equal the true ones
    train_loss: Annotated[np.ndarray, Dims("epoch")]  # on the permuted labels, running mean over the epoch
    train_acc: Annotated[np.ndarray, Dims("epoch")]
    test_loss: Annotated[np.ndarray, Dims("epoch")]  # true labels, evaluation mode
    test_acc: Annotated[np.ndarray, Dims("epoch")]
    diverged_epoch: int  # 0 = never


@dataclass(frozen=True)
class Result:
    steps: int
    sizes: Annotated[np.ndarray, Dims("size")]  # training images of each run
    label_agreement: Annotated[np.ndarray, Dims("size")]
    train_loss: Annotated[np.ndarray, Dims("size", "epoch")]
    train_acc: Annotated[np.ndarray, Dims("size", "epoch")]
    test_loss: Annotated[np.ndarray, Dims("size", "epoch")]
    test_acc: Annotated[np.ndarray, Dims("size", "epoch")]
    diverged_epoch: Annotated[np.ndarray, Dims("size")]


def resized(split: data.Split) -> data.Split:
    x = F.interpolate(split.x.float(), size=32, mode="bilinear", align_corners=False)
    return data.Split(x.round().clamp(0, 255).to(torch.uint8), split.y)


def shuffled_labels(y: torch.Tensor, seed: int) -> torch.Tensor:
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    return y[perm]


def train_run(cfg: Config, n_train: int, ctx: RunContext) -> Run:
    train, test = ctx.dataset("MNIST")
    seed = cfg.train.seed
    train, test = resized(train.subset(n_train, seed)), resized(test.subset(cfg.n_test or None, seed))
    noisy = shuffled_labels(train.y, cfg.label_seed)
    transform = data.image_transform(data.MNIST_MEAN, data.MNIST_STD, augment=False)
    stack = engine.Stack(cfg.model, [seed], ctx.device)
    h = engine.train(stack, engine.Task(train.x, noisy, test.x, test.y, transform), cfg.train,
                     desc=f"{ID} {n_train:,}")
    return Run(h.steps, float((noisy == train.y).float().mean()), h.train_loss[0], h.train_acc[0], h.test_loss[0],
               h.test_acc[0], int(h.diverged_epoch[0]))


def parts(cfg: Config) -> list[Part]:
    return [Part(f"n-{n}", Run, functools.partial(train_run, cfg, n)) for n in cfg.sizes]


def run(cfg: Config, ctx: RunContext) -> Result:
    runs = [ctx.part(p) for p in parts(cfg)]
    rows = lambda name: np.stack([getattr(r, name) for r in runs])
    return Result(sum(r.steps for r in runs), np.array(cfg.sizes), rows("label_agreement"), rows("train_loss"),
                  rows("train_acc"), rows("test_loss"), rows("test_acc"), rows("diverged_epoch"))
