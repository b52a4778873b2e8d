"""Compute stage. HW1-1 actual task: three CNNs on CIFAR-10 (report R) and three on MNIST (report V)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import data, engine, models
from ..results import Results
from ..rules import CIFAR, MNIST, all_of, architectures, decay, non_negative, positive

ID = "actual-task"
PLATEAU_PP = 0.005  # "stopped improving": within half a percentage point of the best test accuracy


@dataclass
class Config:
    cifar_models: tuple = ("CNN-shallow", "CNN-deep", "CNN-wide")
    cifar_epochs: int = 30  # StepLR(10, 0.1) from 4e-4: 4e-7 from epoch 31, nothing moves (report R ran 100)
    cifar_batch: int = 64
    cifar_lr: float = 4e-4
    cifar_step: int = 10
    cifar_gamma: float = 0.1
    cifar_train: int = 0  # 0 = the whole split
    cifar_test: int = 0
    mnist_models: tuple = ("MNIST-CNN-1", "MNIST-CNN-2", "MNIST-CNN-3")
    mnist_epochs: int = 15
    mnist_batch: int = 500
    mnist_lr: float = 1e-3
    mnist_train: int = 0
    mnist_test: int = 0
    weight_decay: float = 1e-4
    seed: int = 0


QUICK = dict(cifar_epochs=3, cifar_train=4000, cifar_test=1000, mnist_epochs=3, mnist_train=10000, mnist_test=2000)
RULES = dict(cifar_models=all_of(architectures(CIFAR)), cifar_epochs=positive, cifar_batch=positive, cifar_lr=positive,
             cifar_step=non_negative, cifar_gamma=decay, cifar_train=non_negative, cifar_test=non_negative,
             mnist_models=all_of(architectures(MNIST)), mnist_epochs=positive, mnist_batch=positive, mnist_lr=positive,
             mnist_train=non_negative, mnist_test=non_negative, weight_decay=non_negative, seed=non_negative)


def datasets(cfg: Config) -> dict[str, dict]:
    """Per data set: models and training settings, in one place for run, setup and figures."""
    return {
        "CIFAR-10": dict(models=list(cfg.cifar_models), n_train=cfg.cifar_train, n_test=cfg.cifar_test,
                         train=engine.TrainConfig(cfg.cifar_epochs, cfg.cifar_batch, cfg.cifar_lr, cfg.weight_decay,
                                                  cfg.cifar_step, cfg.cifar_gamma),
                         transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)),
        "MNIST": dict(models=list(cfg.mnist_models), n_train=cfg.mnist_train, n_test=cfg.mnist_test,
                      train=engine.TrainConfig(cfg.mnist_epochs, cfg.mnist_batch, cfg.mnist_lr, cfg.weight_decay),
                      transform=data.image_transform(None, None, augment=False)),
    }


def train_one(arch: str, d: dict, train: data.Split, test: data.Split, seed: int) -> dict:
    ens = engine.Ensemble(arch, [seed], train.x.device)
    task = engine.Task(train.x, train.y, test.x, test.y, d["transform"])
    hist = engine.train(ens, task, d["train"], desc=f"actual-task {arch}", seed=seed)
    return hist.member(0)


def run(cfg: Config, ctx) -> Results:
    res = Results(values={"config": asdict(cfg), "params": {}, "steps": 0, "datasets": {}})
    rows = []
    for name, d in datasets(cfg).items():
        train, test = ctx.dataset(name)
        train, test = train.subset(d["n_train"] or None, cfg.seed), test.subset(d["n_test"] or None, cfg.seed)
        tc = d["train"]
        res.values["datasets"][name] = {"models": d["models"], "n_train": len(train.y), "n_test": len(test.y),
                                        "epochs": tc.epochs, "step_size": tc.step_size, "gamma": tc.gamma}
        for arch in d["models"]:
            h = ctx.part(f"{name}-{arch}", lambda: train_one(arch, d, train, test, cfg.seed))
            res.values["params"][arch] = models.param_count(models.build(arch))
            res.values["steps"] += int(h["steps"])
            for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
                res.arrays[f"{k}/{name}/{arch}"] = h[k]
            test_acc = h["test_acc"]
            finite = np.isfinite(test_acc)
            best = int(np.nanargmax(test_acc)) if finite.any() else -1
            last = int(np.flatnonzero(finite)[-1]) if finite.any() else -1
            plateau = int(np.flatnonzero(test_acc >= test_acc[best] - PLATEAU_PP)[0]) + 1 if best >= 0 else 0
            rows.append({"dataset": name, "model": arch, "params": res.values["params"][arch],
                         "train_loss": h["train_loss"][last], "train_acc": h["train_acc"][last],
                         "test_loss": h["test_loss"][last], "test_acc": h["test_acc"][last],
                         "best_test_acc": test_acc[best] if best >= 0 else np.nan, "best_epoch": best + 1,
                         "plateau_epoch": plateau, "diverged_epoch": int(h["diverged_epoch"])})
    res.tables["summary"] = pd.DataFrame(rows)
    return res
