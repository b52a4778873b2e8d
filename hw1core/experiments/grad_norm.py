"""Compute stage. HW1-2 gradient norm: the L2 norm of the loss gradient and the loss at every step of one training
run."""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from .. import data, engine
from ..context import Part, RunContext
from ..results import Dims
from ..rules import FUNCTION, MAX_IMAGES, architectures, both, count, holds, one_of
from ..settings import setting, settings

ID = "grad-norm"


@settings
class Config:
    model: str = setting("MLP-middle", one_of(architectures(FUNCTION)))
    function: str = setting("f1", one_of(data.FUNCTIONS))
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=5000, batch_size=64, lr=4e-4, weight_decay=1e-4),
                                        quick=dict(epochs=600))
    # every step's gradient norm and loss are kept, each a tensor until the end: a few per step
    n_train: int = setting(300, both(count(MAX_IMAGES), holds(
        lambda c: 4 * c.train.epochs * -(-c.n_train // c.train.batch_size), "a gradient norm and loss per step")))


@dataclass(frozen=True)
class Result:
    steps: int
    steps_per_epoch: int
    grad_norm: Annotated[np.ndarray, Dims("step")]  # ‖∇θ L‖₂ of the mini-batch loss, before the optimiser step
    step_loss: Annotated[np.ndarray, Dims("step")]  # the mini-batch loss
    epoch_loss: Annotated[np.ndarray, Dims("epoch")]  # running mean of the mini-batch losses over each epoch
    full_grad_norm: Annotated[np.ndarray, Dims("epoch")]  # ‖∇θ L‖₂ of the loss on all training points, after each epoch


def train_run(cfg: Config, ctx: RunContext) -> Result:
    x, y = data.function_points(cfg.function, cfg.n_train, ctx.device)
    stack = engine.Stack(cfg.model, [cfg.train.seed], ctx.device)
    norms, losses, full = [], [], []
    norm_of = lambda grads: torch.sqrt(functools.reduce(operator.add, (g.pow(2).sum() for g in grads)))

    def record(s: engine.Stack, loss: torch.Tensor) -> None:
        norms.append(norm_of(p.grad for p in s.params.values() if p.grad is not None))
        losses.append(loss[0])

    def full_batch(epoch: int, s: engine.Stack) -> None:
        # The gradient of the loss on all points: what the mini-batch gradients estimate, without their noise.
        loss = engine.member_losses(s(x, shared=True), y.unsqueeze(0), "mse").sum()
        full.append(norm_of(torch.autograd.grad(loss, list(s.params.values()))).detach())
    hist = engine.train(stack, engine.Task(x, y, loss="mse"), cfg.train, desc=f"{ID} {cfg.model}", step_hook=record,
                        epoch_hook=full_batch)
    return Result(hist.steps, -(-cfg.n_train // cfg.train.batch_size), torch.stack(norms).cpu().numpy(),
                  torch.stack(losses).cpu().numpy(), hist.train_loss[0], torch.stack(full).cpu().numpy())


def parts(cfg: Config) -> list[Part]:
    return [Part("run", Result, functools.partial(train_run, cfg))]


def run(cfg: Config, ctx: RunContext) -> Result:
    return ctx.part(parts(cfg)[0])
