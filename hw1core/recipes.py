"""The CIFAR-10 training recipe the HW1-3 experiments share: one model, trained once per spec, with its weights
and final metrics measured in evaluation mode on the training and test sets."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Annotated

import numpy as np
import torch

from . import data, engine
from .context import Part, RunContext
from .results import Dims

CIFAR_TRANSFORM = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)


@dataclass(frozen=True)
class CifarRun:
    """What a shared model is trained to: its architecture, its training and its data (the model's store key)."""
    arch: str
    train: engine.TrainConfig
    data: data.Sizes
    n_eval_train: int  # unaugmented training images behind the final training metrics


@dataclass(frozen=True)
class TrainedModel:
    steps: int
    weights: Annotated[np.ndarray, Dims("param")]  # flattened in the order of Stack.flat_params
    train_loss: Annotated[np.ndarray, Dims("epoch")]  # running mean over each epoch's augmented batches
    train_acc: Annotated[np.ndarray, Dims("epoch")]
    lr: Annotated[np.ndarray, Dims("epoch")]
    diverged_epoch: int  # 0 = never
    final_train_loss: float  # evaluation mode, unaugmented training images
    final_train_acc: float
    final_test_loss: float
    final_test_acc: float

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch > 0


def splits(run: CifarRun, ctx: RunContext) -> tuple[data.Split, data.Split, data.Split]:
    """Training subset, its evaluation subset (≤ n_eval_train) and the test subset."""
    train, test = ctx.dataset("CIFAR-10")
    seed = run.train.seed
    train = train.subset(run.data.n_train or None, seed)
    return train, train.subset(run.n_eval_train, seed + 1), test.subset(run.data.n_test or None, seed)


def train_model(run: CifarRun, ctx: RunContext) -> TrainedModel:
    train, train_eval, test = splits(run, ctx)
    stack = engine.Stack(run.arch, [run.train.seed], ctx.device)
    # No test set during training: every user reads only the final metrics below, and evaluating 10,000 test
    # images after every epoch would cost the full profile 630 evaluations for curves nobody plots.
    task = engine.Task(train.x, train.y, transform=CIFAR_TRANSFORM)
    hist = engine.train(stack, task, run.train, desc=f"{ctx.exp_id} {model_name(run)}")
    (tl,), (ta,) = engine.evaluate(stack, train_eval.x, train_eval.y, CIFAR_TRANSFORM)
    (vl,), (va,) = engine.evaluate(stack, test.x, test.y, CIFAR_TRANSFORM)
    return TrainedModel(hist.steps, stack.flat_params()[0].cpu().numpy(), hist.train_loss[0], hist.train_acc[0],
                        hist.lr, int(hist.diverged_epoch[0]), float(tl), float(ta), float(vl), float(va))


def model_name(run: CifarRun) -> str:
    """How a shared model is named in progress bars, errors and timings: unique per architecture and training."""
    return f"{run.arch} batch {run.train.batch_size} lr {run.train.lr:.3g} seed {run.train.seed}"


def model_part(run: CifarRun) -> Part:
    """The model trained to `run`: stored once per spec and shared by every experiment that asks for it."""
    return Part(model_name(run), TrainedModel, functools.partial(train_model, run), shared=asdict(run))


def train_cifar(run: CifarRun, ctx: RunContext) -> TrainedModel:
    """The model trained to `run`, from the store when any experiment has trained it."""
    return ctx.part(model_part(run))


def stacked_weights(stack: engine.Stack, trained: list[TrainedModel]) -> dict[str, torch.Tensor]:
    """The weights of several trained models of the stack's architecture, stacked (leading dim = model)."""
    return stack.params_from(np.stack([t.weights for t in trained]))
