"""HW1-2 gradient norm: the L2 norm of the loss gradient and the loss at every step of one training run."""
from __future__ import annotations

import math

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .. import data, engine, models, plots
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..store import Results

ID = "grad-norm"
TITLE = "Gradient norm during training"
PART = "HW1-2 Optimization"


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

QUESTIONS = [
    Question("One figure with the gradient norm and the loss against iterations", "1", ["fig:norm-loss"]),
    Question("Comment on the results", "1", ["setup", "table:phases", "findings"]),
]


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Task", f"{cfg.function}(x) = {data.FUNCTIONS[cfg.function][0]}, {cfg.n_train} points on [−1, 1], MSE"),
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params), seed {cfg.seed}"),
        ("Optimiser", f"Adam, lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}; batch {cfg.batch_size}; {cfg.epochs:,} epochs"),
        ("Recorded", "at every step: the mini-batch loss and ‖∇θ L‖₂ over all parameters (before the optimiser step; "
                     "weight decay not included)"),
    ]


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


def figures(res: Results) -> list[FigureSpec]:
    a, spe = res.arrays, res.values["steps_per_epoch"]
    step_epochs = np.arange(1, len(a["grad_norm"]) + 1) / spe
    fig, axes = plots.new_figure(1, 2, height=4.6, sharex=True)
    axes[0].plot(step_epochs, a["grad_norm"], color=plots.COLORS[0], linewidth=0.4, alpha=0.35, label="per step")
    axes[0].plot(plots.epochs_axis(len(a["epoch_norm"])), a["epoch_norm"], color=plots.COLORS[0], linewidth=1.3,
                 label="epoch mean")
    axes[0].set(yscale="log", ylabel="‖∇L‖₂ (log)", title="Gradient norm and loss")
    axes[0].legend(fontsize=7)
    axes[1].plot(step_epochs, a["step_loss"], color=plots.COLORS[1], linewidth=0.4, alpha=0.35, label="per step")
    axes[1].plot(plots.epochs_axis(len(a["epoch_loss"])), a["epoch_loss"], color=plots.COLORS[1], linewidth=1.3,
                 label="epoch mean")
    axes[1].set(yscale="log", ylabel="MSE (log)", xlabel="epoch")
    axes[1].legend(fontsize=7)
    return [FigureSpec("norm-loss", f"Gradient norm (top) and loss (bottom) at every one of "
                                    f"{len(a['grad_norm']):,} steps (faint) and per epoch (solid); x axis in epochs "
                                    f"({spe} steps each).", fig)]


def tables(res: Results) -> list[TableSpec]:
    return [TableSpec("phases", "Loss and gradient norm over four equal phases of training.", res.tables["phases"])]


def findings(res: Results) -> list[Finding]:
    a = res.arrays
    norm, loss = pd.Series(a["epoch_norm"]), pd.Series(a["epoch_loss"])
    peak = int(norm.idxmax())
    tail = max(1, len(norm) // 10)
    out = [Finding("The gradient norm peaked at epoch {e:int} ({p:sig}); over the last {tail:int} epochs it averaged "
                   "{end:sig}, {drop:ratio} below the peak, while the loss fell from {l0:sig} to {l1:sig} ({ld:ratio}).",
                   {"e": peak + 1, "p": norm[peak], "tail": tail, "end": norm[-tail:].mean(),
                    "drop": norm[peak] / norm[-tail:].mean(), "l0": loss.iloc[0], "l1": loss[-tail:].mean(),
                    "ld": loss.iloc[0] / loss[-tail:].mean()})]
    rho = norm.corr(loss, method="spearman")
    out.append(Finding("Across epochs, the gradient norm and the loss have a Spearman correlation of {r:sig}: {what}.",
                       {"r": rho, "what": "they fall together" if rho > 0.3 else
                        "the norm does not simply track the loss: it can rise while the loss falls, as the weights "
                        "move into steeper regions" if rho < -0.3 else "they are largely unrelated"}))
    steps = pd.Series(a["grad_norm"])
    spikes = int((steps > 3 * steps.rolling(50, min_periods=1).median()).sum())
    out.append(Finding("{n:int} of {total:count} steps ({share:pct}) had a gradient norm over 3× the running median "
                       "over 50 steps; the epoch means in the figure smooth these spikes away.",
                       {"n": spikes, "total": len(steps), "share": spikes / len(steps)}))
    return out
