"""Compute stage. HW1-2 gradient norm: the L2 norm of the loss gradient and the loss at every step of one training run."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .. import data, engine
from ..results import Results
from ..rules import FUNCTION, architectures, non_negative, one_of, positive

ID = "grad-norm"


@dataclass
class Config:
    model: str = "MLP-middle"
    function: str = "f1"
    epochs: int = 5000
    batch_size: int = 64
    lr: float = 4e-4
    weight_decay: float = 1e-4
    n_train: int = 300
    seed: int = 0


QUICK = dict(epochs=600)
RULES = dict(model=one_of(architectures(FUNCTION)), function=one_of(data.FUNCTIONS), epochs=positive, batch_size=positive,
             lr=positive, weight_decay=non_negative, n_train=positive, seed=non_negative)


def step_recorder(steps: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, Callable]:
    """Buffers for each step's gradient norm and member-0 loss, and the step hook that fills them; it writes
    device tensors only (a device-side counter), so it can run inside a CUDA graph."""
    norms, losses = (torch.zeros(steps, device=device) for _ in range(2))
    step = torch.zeros(1, dtype=torch.long, device=device)

    def record(ens: engine.Ensemble, loss: torch.Tensor) -> None:
        norms.index_copy_(0, step, torch.sqrt(sum(p.grad.pow(2).sum() for p in ens.params.values())).view(1))
        losses.index_copy_(0, step, loss[:1])
        step.add_(1)
    return norms, losses, record


def train_run(cfg: Config, ctx) -> dict:
    x, y = data.function_points(cfg.function, cfg.n_train, ctx.device)
    ens = engine.Ensemble(cfg.model, [cfg.seed], ctx.device)
    norms, losses, record = step_recorder(cfg.epochs * math.ceil(cfg.n_train / cfg.batch_size), ctx.device)
    tc = engine.TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, loss="mse")
    hist = engine.train(ens, engine.Task(x, y), tc, desc=f"{ID} {cfg.model}", seed=cfg.seed, step_hook=record)
    return {"grad_norm": norms.cpu().numpy(), "step_loss": losses.cpu().numpy(),
            "epoch_loss": hist.train_loss[0], "steps": np.array(hist.steps)}


def run(cfg: Config, ctx) -> Results:
    out = ctx.part("run", lambda: train_run(cfg, ctx))
    per_epoch = len(out["grad_norm"]) // len(out["epoch_loss"])
    norm_epoch = out["grad_norm"][:per_epoch * len(out["epoch_loss"])].reshape(-1, per_epoch).mean(1)
    res = Results(values={"config": asdict(cfg), "steps": int(out["steps"]), "steps_per_epoch": per_epoch},
                  arrays={"grad_norm": out["grad_norm"], "step_loss": out["step_loss"],
                          "epoch_loss": out["epoch_loss"], "epoch_norm": norm_epoch})
    # Four equal phases of training: how loss and gradient norm move together.
    bounds = np.linspace(0, len(norm_epoch), 5).astype(int)
    res.tables["phases"] = pd.DataFrame([
        {"epochs": f"{a + 1}–{b}", "loss at start": out["epoch_loss"][a], "loss at end": out["epoch_loss"][b - 1],
         "mean grad norm": norm_epoch[a:b].mean(), "max grad norm": norm_epoch[a:b].max()}
        for a, b in zip(bounds[:-1], bounds[1:])])
    return res
