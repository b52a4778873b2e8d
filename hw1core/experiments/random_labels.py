"""HW1-3 random labels: report R's MLP memorises MNIST with shuffled training labels (Zhang et al. 2017)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import data, engine, models, plots
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..store import Results

ID = "random-labels"
TITLE = "Can the network fit random labels?"
PART = "HW1-3 Generalization"


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

QUESTIONS = [
    Question("Describe the settings: task, learning rate, optimiser", "1", ["setup"]),
    Question("Training and test loss against epochs", "1", ["fig:curves", "table:milestones", "findings"]),
]


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    n = f"{cfg.n_train:,} of 60,000 (fixed random subset)" if cfg.n_train else "all 60,000"
    return [
        ("Task", f"MNIST resized to 32×32 (bilinear), normalised with mean 0.1307 and sd 0.3081; training images: {n}; "
                 f"test: {'all 10,000' if not cfg.n_test else f'{cfg.n_test:,}'}"),
        ("Labels", f"training labels randomly permuted once (seed {cfg.label_seed}), so they carry no information "
                   "about the image; test labels are the true ones"),
        ("Model", f"{cfg.model} ({models.param_count(models.build(cfg.model)):,} params)"),
        ("Optimiser", f"Adam, lr {cfg.lr:g}, no weight decay; batch {cfg.batch_size}; {cfg.epochs:,} epochs; "
                      f"seed {cfg.seed}"),
    ]


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


def figures(res: Results) -> list[FigureSpec]:
    a = res.arrays
    x = plots.epochs_axis(len(a["train_loss"]))
    fig, (ax1, ax2) = plots.new_figure(2, height=3.4)
    ax1.plot(x, a["train_loss"], color=plots.COLORS[0], label="train (random labels)")
    ax1.plot(x, a["test_loss"], color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax1.set(xlabel="epoch", ylabel="cross-entropy (log)", yscale="log", title="Loss")
    ax2.plot(x, a["train_acc"], color=plots.COLORS[0], label="train (random labels)")
    ax2.plot(x, a["test_acc"], color=plots.COLORS[1], linestyle="--", label="test (true labels)")
    ax2.axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance (10%)")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        plots.integer_ticks(ax)
    return [FigureSpec("curves", "Training on randomly permuted labels: loss (left) and accuracy (right) per epoch; "
                                 "the test set keeps its true labels.", fig)]


def tables(res: Results) -> list[TableSpec]:
    return [TableSpec("milestones", "Loss and accuracy at a few epochs (including the test-loss minimum).",
                      res.tables["milestones"])]


def findings(res: Results) -> list[Finding]:
    a = res.arrays
    tl = a["test_loss"]
    rise = int(np.nanargmin(tl)) + 1
    out = [Finding("Only {agree:pct} of the permuted training labels equal the true ones (chance level), yet the "
                   "network reached {acc:pct} training accuracy after {e:count} epochs (training loss {l0:sig} → "
                   "{l1:sig}): {verdict}.",
                   {"agree": res.values["label_agreement"], "acc": a["train_acc"][-1], "e": len(tl),
                    "l0": a["train_loss"][0], "l1": a["train_loss"][-1],
                    "verdict": "it memorises labels that carry no information, as Zhang et al. (2017) found"
                    if a["train_acc"][-1] > 0.5 else "memorisation has begun but is far from complete in this run"})]
    out.append(Finding("Test accuracy ended at {acc:pct} against a chance level of 10% ({diff:sig} points {dir}).",
                       {"acc": a["test_acc"][-1], "diff": abs(100 * (a["test_acc"][-1] - 0.1)),
                        "dir": "above" if a["test_acc"][-1] >= 0.1 else "below"}))
    if rise < len(tl):
        out.append(Finding("Test loss was lowest at epoch {e:int} ({lo:sig}) and then rose to {end:sig} ({r:ratio}) as "
                           "the network fitted the noise.",
                           {"e": rise, "lo": tl[rise - 1], "end": tl[-1], "r": tl[-1] / tl[rise - 1]}))
    else:
        out.append(Finding("Test loss was still at its lowest in the last epoch ({e:int}): the run ended before it "
                           "started rising.", {"e": rise}))
    return out
