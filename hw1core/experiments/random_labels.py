"""Compute stage. HW1-3 random labels: report R's MLP memorises MNIST with shuffled training labels (Zhang et al. 2017)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import data, engine
from ..results import Results
from ..rules import MNIST_32, architectures, non_negative, one_of, positive

ID = "random-labels"


@dataclass
class Config:
    model: str = "MLP-random-labels"
    epochs: int = 1000
    batch_size: int = 100
    lr: float = 1e-4
    n_train: int = 0  # 0 = all 60,000
    n_test: int = 0
    label_seed: int = 0  # the permutation of the training labels
    seed: int = 0


QUICK = dict(epochs=40, n_train=2000, n_test=2000)
RULES = dict(model=one_of(architectures(MNIST_32)), epochs=positive, batch_size=positive, lr=positive,
             n_train=non_negative, n_test=non_negative, label_seed=non_negative, seed=non_negative)


def resized(split: data.Split) -> data.Split:
    x = F.interpolate(split.x.float(), size=32, mode="bilinear", align_corners=False)
    return data.Split(x.round().clamp(0, 255).to(torch.uint8), split.y)


def shuffled_labels(y: torch.Tensor, seed: int) -> torch.Tensor:
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    return y[perm]


def train_run(cfg: Config, ctx) -> dict:
    train, test = ctx.dataset("MNIST")
    train, test = resized(train.subset(cfg.n_train or None, cfg.seed)), resized(test.subset(cfg.n_test or None, cfg.seed))
    noisy = shuffled_labels(train.y, cfg.label_seed)
    transform = data.image_transform(data.MNIST_MEAN, data.MNIST_STD, augment=False)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr)
    hist = engine.train(ens, engine.Task(train.x, noisy, test.x, test.y, transform), tc, desc=f"{ID}", seed=cfg.seed)
    return hist.member(0) | {"agree": np.array(float((noisy == train.y).float().mean()))}


def run(cfg: Config, ctx) -> Results:
    h = ctx.part("run", lambda: train_run(cfg, ctx))
    res = Results(values={"config": asdict(cfg), "steps": int(h["steps"]), "label_agreement": float(h["agree"]),
                          "diverged_epoch": int(h["diverged_epoch"])},
                  arrays={k: h[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")})
    e = len(h["train_loss"])
    marks = sorted({1, max(1, e // 10), max(1, e // 4), max(1, e // 2), e, int(np.nanargmin(h["test_loss"])) + 1})
    res.tables["milestones"] = pd.DataFrame([
        {"epoch": m, "train loss": h["train_loss"][m - 1], "train acc": f"{h['train_acc'][m - 1]:.1%}",
         "test loss": h["test_loss"][m - 1], "test acc": f"{h['test_acc'][m - 1]:.1%}"} for m in marks])
    return res
