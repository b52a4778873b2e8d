"""The CIFAR-10 training recipe the HW1-3 experiments share: one model, trained once per spec, with its weights
and final metrics measured in evaluation mode on the training and test sets."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import data, engine

PARAM = "param/"


@dataclass(frozen=True)
class CifarRun:
    arch: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    step_size: int = 0
    gamma: float = 0.1
    n_train: int = 0  # 0 = all 50,000
    n_test: int = 0  # 0 = all 10,000
    n_eval_train: int = 10_000  # training images (no augmentation) behind the final training metrics
    seed: int = 0

    def describe(self) -> str:
        sched = f", StepLR ×{self.gamma:g}/{self.step_size} epochs" if self.step_size else ""
        return (f"Adam lr {self.lr:g}, weight decay {self.weight_decay:g}{sched}, batch {self.batch_size}, "
                f"{self.epochs} epochs")


CIFAR_TRANSFORM = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)


def splits(run: CifarRun, ctx) -> tuple[data.Split, data.Split, data.Split]:
    """Training subset, its evaluation subset (≤ n_eval_train) and the test subset."""
    train, test = ctx.dataset("CIFAR-10")
    train = train.subset(run.n_train or None, run.seed)
    return train, train.subset(run.n_eval_train, run.seed + 1), test.subset(run.n_test or None, run.seed)


def train_cifar(run: CifarRun, ctx, desc: str) -> dict[str, np.ndarray]:
    """Weights ('param/NAME'), per-epoch history and final eval-mode metrics of one model, cached by spec."""
    def compute() -> dict[str, np.ndarray]:
        train, train_eval, test = splits(run, ctx)
        ens = engine.Ensemble(run.arch, [run.seed], ctx.device)
        # No test set during training: every user reads only the final metrics below, and evaluating 10,000 test
        # images after every epoch would cost the full profile 630 evaluations for curves nobody plots.
        task = engine.Task(train.x, train.y, transform=CIFAR_TRANSFORM)
        tc = engine.TrainConfig(run.epochs, run.batch_size, run.lr, run.weight_decay, run.step_size, run.gamma)
        hist = engine.train(ens, task, tc, desc=desc, seed=run.seed)
        out = hist.member(0)
        tl, ta = engine.evaluate(ens, train_eval.x, train_eval.y, CIFAR_TRANSFORM)
        vl, va = engine.evaluate(ens, test.x, test.y, CIFAR_TRANSFORM)
        out |= {"final_train_loss": tl[0], "final_train_acc": ta[0], "final_test_loss": vl[0], "final_test_acc": va[0]}
        return out | {PARAM + n: v for n, v in ens.member_state(0).items()}
    return ctx.shared(asdict(run), compute)


def stacked_params(runs: list[dict[str, np.ndarray]], device) -> dict[str, torch.Tensor]:
    """The weights of several trained models of one architecture as one stack (leading dim = model)."""
    names = [k[len(PARAM):] for k in runs[0] if k.startswith(PARAM)]
    return {n: torch.from_numpy(np.stack([r[PARAM + n] for r in runs])).to(device) for n in names}


def diverged(run: dict[str, np.ndarray]) -> bool:
    return int(run["diverged_epoch"]) > 0
