"""Compute stage. HW1-1 simulate: three MLPs of ~573 parameters fit two 1-D functions; several seeds each."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from .. import data, engine, models
from ..context import Part, RunContext
from ..results import Dims
from ..rules import FUNCTION, MAX_IMAGES, MAX_MODELS, all_of, architectures, both, count, holds, one_of, weights_of
from ..settings import setting, settings

ID = "simulate"
BIAS_STARTS = ("default", "zero")


@settings
class Config:
    models: tuple[str, ...] = setting(("MLP-deep", "MLP-middle", "MLP-shallow"), all_of(architectures(FUNCTION)))
    functions: tuple[str, ...] = setting(("f1", "f2"), all_of(data.FUNCTIONS))
    train: engine.TrainConfig = setting(engine.TrainConfig(epochs=20_000, batch_size=64, lr=4e-4, weight_decay=1e-4),
                                        quick=dict(epochs=600))
    seeds: int = setting(5, both(count(MAX_MODELS), holds(
        lambda c: 2 * len(c.functions) * len(c.models) * c.seeds * c.train.epochs, "the loss histories")), quick=3)
    # "default": nn.Linear's biases, which spread the kinks over the inputs; "zero": every kink starts at x = 0
    biases: str = setting("default", one_of(BIAS_STARTS))
    n_train: int = setting(300, count(MAX_IMAGES))
    # a model's parameters bound its activations per point: every seed's, on every point at once
    n_grid: int = setting(1000, both(count(MAX_IMAGES), holds(
        lambda c: len(c.functions) * c.seeds * max(c.n_train, c.n_grid) * max(map(weights_of, c.models)),
        "the seeds' activations")))  # each function's seeds train as one stack


@dataclass(frozen=True)
class Result:
    steps: int
    x: Annotated[np.ndarray, Dims("point")]  # the training inputs
    grid: Annotated[np.ndarray, Dims("grid")]  # where predictions are drawn
    truth: Annotated[np.ndarray, Dims("function", "grid")]
    target_variance: Annotated[np.ndarray, Dims("function")]  # Var f on the training points
    loss: Annotated[np.ndarray, Dims("function", "model", "seed", "epoch")]  # full-batch training MSE, each epoch's end
    pred: Annotated[np.ndarray, Dims("function", "model", "seed", "grid")]  # predictions after training
    diverged_epoch: Annotated[np.ndarray, Dims("function", "model", "seed")]  # 0 = never


@dataclass(frozen=True)
class Fits:
    """One architecture fitted to every function with every seed: one part of the experiment."""
    steps: int
    loss: Annotated[np.ndarray, Dims("member", "epoch")]  # members: functions × seeds, function-major
    pred: Annotated[np.ndarray, Dims("member", "grid")]
    diverged_epoch: Annotated[np.ndarray, Dims("member")]


def inputs(cfg: Config, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training points, each function's targets there, and the grid the predictions are drawn on."""
    x = torch.linspace(-1, 1, cfg.n_train, device=device).unsqueeze(1)
    grid = torch.linspace(-1, 1, cfg.n_grid, device=device).unsqueeze(1)
    return x, torch.stack([data.FUNCTIONS[f](x) for f in cfg.functions]), grid


def train_model(arch: str, cfg: Config, ctx: RunContext) -> Fits:
    """All functions × seeds of one architecture as one stack of models; the full-batch training loss at the end of
    every epoch (the batch losses' running mean is too noisy to tell when a run has settled) and predictions."""
    x, targets, grid = inputs(cfg, ctx.device)
    k = len(cfg.functions) * cfg.seeds
    seeds = [s for _ in cfg.functions for s in range(cfg.seeds)]  # the same inits for every function
    stack = engine.Stack(arch, seeds, x.device)
    if cfg.biases == "zero":
        models.zero_biases(stack.params)
    member_targets = targets.repeat_interleave(cfg.seeds, 0)
    task = engine.Task(x.expand(k, *x.shape), member_targets, loss="mse", per_member=True)
    loss = np.full((k, cfg.train.epochs), np.nan)

    def full_batch_loss(epoch: int, s: engine.Stack) -> None:
        with torch.no_grad():
            loss[:, epoch] = engine.member_losses(s(x, shared=True), member_targets, "mse").cpu().numpy()

    hist = engine.train(stack, task, cfg.train, desc=f"simulate {arch}", epoch_hook=full_batch_loss)
    stack.train(False)
    with torch.no_grad():
        pred = stack(grid, shared=True).squeeze(-1).cpu().numpy()
    for member, epoch in enumerate(hist.diverged_epoch):
        if epoch:  # a diverged model stopped training: from that epoch on, its losses measure nothing
            loss[member, epoch - 1:] = np.nan
    return Fits(hist.steps, loss, pred, hist.diverged_epoch)


def by_function(parts: list[np.ndarray], cfg: Config) -> np.ndarray:
    """Per-architecture arrays over members (functions × seeds, function-major) as function × model × seed × ..."""
    return np.stack([p.reshape(len(cfg.functions), cfg.seeds, *p.shape[1:]) for p in parts], axis=1)


def parts(cfg: Config) -> list[Part]:
    return [Part(arch, Fits, functools.partial(train_model, arch, cfg)) for arch in cfg.models]


def run(cfg: Config, ctx: RunContext) -> Result:
    x, targets, grid = inputs(cfg, ctx.device)
    fits = [ctx.part(p) for p in parts(cfg)]
    return Result(
        steps=sum(f.steps for f in fits),
        x=x.squeeze(1).cpu().numpy(), grid=grid.squeeze(1).cpu().numpy(),
        truth=torch.stack([data.FUNCTIONS[f](grid) for f in cfg.functions]).squeeze(-1).cpu().numpy(),
        target_variance=targets.var(dim=(1, 2), unbiased=False).cpu().numpy(),
        loss=by_function([f.loss for f in fits], cfg), pred=by_function([f.pred for f in fits], cfg),
        diverged_epoch=by_function([f.diverged_epoch for f in fits], cfg))
