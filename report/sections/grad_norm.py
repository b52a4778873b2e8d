"""Report section. HW1-2 gradient norm: the L2 norm of the loss gradient and the loss at every step of one training run."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.grad_norm import Config, Result

from .. import plots
from ..claims import COMPARISON_RULE, Estimate, correlation, over_seeds, pair, trend
from ..format import fmt_estimate, train_text
from ..layers import FORMULAS
from ..outputs import FigureSpec, Finding, Question, TableSpec

TITLE = "Gradient norm during training"
PART = "HW1-2 Optimisation"

QUESTIONS = [
    Question("One figure with the gradient norm and the loss against iterations", "1", ["fig:norm-loss"]),
    Question("Comment on the results", "1", ["setup", "table:phases", "findings"]),
]
FIGURES = ("norm-loss",)
TABLES = ("phases",)
PHASES = 4  # the phases table splits training into this many equal runs of epochs
SPIKE_FACTOR = 3  # a spike: a step's gradient norm over this many times the running median ...
SPIKE_WINDOW = 50  # ... over this many steps
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    return [
        ("Task", f"{cfg.function}(x) = {FORMULAS[cfg.function]}, {cfg.n_train} points on [−1, 1], MSE"),
        ("Model", f"{cfg.model} ({models.param_count_of(cfg.model):,} params)"),
        ("Optimiser", train_text(tc)),
        ("Recorded", "at every step: the mini-batch loss and ‖∇θ L‖₂ over all parameters (before the optimiser step; "
                     "weight decay not included); after every epoch: ‖∇θ L‖₂ of the loss on all "
                     f"{cfg.n_train} points, the full-batch gradient the mini-batch ones estimate"),
        ("Comparisons", "the last tenth of the epochs, epoch by epoch, for the noise floor; the fastest drop of the "
                        "loss against the epochs before it for the plateau's end; " + COMPARISON_RULE),
    ]


def epoch_mean_norm(res: Result) -> np.ndarray:
    """The mean gradient norm over each epoch's steps, one per epoch of `epoch_loss`; NaN for epochs not run (after
    the run diverged)."""
    spe, epochs = res.steps_per_epoch, len(res.epoch_loss)
    done = min(len(res.grad_norm) // spe, epochs)
    means = np.full(epochs, np.nan)
    means[:done] = res.grad_norm[:done * spe].reshape(done, spe).mean(1)
    return means


def phases(res: Result) -> pd.DataFrame:
    """Loss at the start and end and the mean and max of the epoch-mean gradient norm over PHASES equal phases."""
    norm, loss = epoch_mean_norm(res), res.epoch_loss
    bounds = np.linspace(0, len(norm), PHASES + 1).astype(int)
    return pd.DataFrame([
        {"epochs": f"{a + 1}–{b}", "loss at start": loss[a], "loss at end": loss[b - 1],
         "mean grad norm": norm[a:b].mean(), "max grad norm": norm[a:b].max()}
        for a, b in zip(bounds[:-1], bounds[1:]) if b > a])


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    spe, norm = res.steps_per_epoch, epoch_mean_norm(res)
    step_epochs = np.arange(1, len(res.grad_norm) + 1) / spe
    fig, axes = plots.new_figure(2, 1, height=4.6, sharex=True)
    axes[0].plot(step_epochs, res.grad_norm, color=plots.COLORS[0], linewidth=0.4, alpha=0.35, label="per step")
    axes[0].plot(plots.epochs_axis(len(norm)), norm, color=plots.COLORS[0], linewidth=1.3, label="epoch mean")
    axes[0].plot(plots.epochs_axis(len(res.full_grad_norm)), res.full_grad_norm, color=plots.COLORS[2],
                 linewidth=1.3, label="full batch (end of epoch)")
    axes[0].set(yscale="log", ylabel="‖∇L‖₂ (log)", title="Gradient norm and loss")
    plots.legend_right(axes[0])
    axes[1].plot(step_epochs, res.step_loss, color=plots.COLORS[1], linewidth=0.4, alpha=0.35, label="per step")
    axes[1].plot(plots.epochs_axis(len(res.epoch_loss)), res.epoch_loss, color=plots.COLORS[1], linewidth=1.3,
                 label="epoch mean")
    axes[1].set(yscale="log", ylabel="MSE (log)", xlabel="epoch")
    plots.legend_right(axes[1])
    return [FigureSpec("norm-loss", f"Gradient norm (top) and loss (bottom) at every one of "
                                    f"{len(res.grad_norm):,} steps (faint) and per epoch (solid), with the full-batch "
                                    f"gradient norm after each epoch (green); x axis in epochs "
                                    f"({spe} steps each).", fig)]


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    return [TableSpec("phases", f"Loss and gradient norm over {NUMBER_WORDS.get(PHASES, str(PHASES))} equal phases of training.", phases(res))]


def spike_count(grad_norm: np.ndarray) -> int:
    """Steps whose gradient norm exceeds SPIKE_FACTOR × the running median over the last SPIKE_WINDOW steps."""
    steps = pd.Series(grad_norm)
    return int((steps > SPIKE_FACTOR * steps.rolling(SPIKE_WINDOW, min_periods=1).median()).sum())


def findings(cfg: Config, res: Result) -> list[Finding]:
    norm, loss = pd.Series(epoch_mean_norm(res)), pd.Series(res.epoch_loss)
    peak = int(norm.idxmax())
    tail = max(1, len(norm) // 10)
    end_norm, end_loss = float(norm.iloc[-tail:].mean()), float(loss.iloc[-tail:].mean())
    # The last epochs' spread is what the drop from the peak must clear (one epoch's mean gives none).
    last = over_seeds(norm.iloc[-tail:], "epochs")
    drop = pair("epoch-mean gradient norm", ("last epochs", "peak"), last, Estimate(float(norm[peak]), 0.0, 1, "epochs"))
    says = ("a single epoch, with no spread to judge the drop from the peak by" if tail == 1 else
            "the peak itself lies in those epochs" if peak >= len(norm) - tail else
            {"<": "{drop:ratio} below the peak", ">": "above the peak"}.get(
                drop.relation, "not distinguishable from the peak over these epochs"))
    out = [Finding("grad-norm-peak",
                   "The gradient norm peaked at epoch {e:int} ({p:sig}); over the last {tail:int} epochs it averaged "
                   "{end}, " + says + ", while the loss fell from {l0:sig} to {l1:sig} ({ld:ratio}).",
                   {"e": peak + 1, "p": float(norm[peak]), "tail": tail, "end": fmt_estimate(last),
                    "drop": float(norm[peak]) / end_norm, "l0": float(loss.iloc[0]), "l1": end_loss,
                    "ld": float(loss.iloc[0]) / end_loss}, [drop])]
    r = trend(norm, loss)
    what = {"rising": "they fall together", "falling": "the norm tends to rise while the loss falls"}.get(
        r.relation, "neither rises or falls with the other in a way its p-value can carry")
    out.append(Finding("norm-loss-spearman",
                       "Across the {n:int} epochs, the epoch-mean gradient norm and the loss have a Spearman "
                       "correlation of {r:sig} (p = {p:sig}; neighbouring epochs are not independent, so p is "
                       "optimistic): {what}.",
                       {"r": r.rho, "p": r.p, "n": r.n, "what": what},
                       [correlation("rank correlation over epochs", "loss", "gradient norm", r)]))
    out += [noise_floor(cfg, res, norm, tail), plateau_escape(norm, loss)]
    spikes, total = spike_count(res.grad_norm), len(res.grad_norm)
    out.append(Finding("norm-spikes",
                       "{n:int} of {total:count} steps ({share:pct}) had a gradient norm over " + f"{SPIKE_FACTOR}× "
                       f"the running median over {SPIKE_WINDOW} steps; the epoch means in the figure smooth these "
                       "spikes away.",
                       {"n": spikes, "total": total, "share": spikes / total}))
    return out


def noise_floor(cfg: Config, res: Result, norm: pd.Series, tail: int) -> Finding:
    """The mini-batch gradient norm against the full-batch one over the last `tail` epochs: where the full gradient
    keeps shrinking, the mini-batch norm stays up by the sampling noise of its batches."""
    mini, full = over_seeds(norm.iloc[-tail:], "epochs"), over_seeds(res.full_grad_norm[-tail:], "epochs")
    claim = pair("gradient norm over the last epochs", ("mini-batch", "full batch"), mini, full)
    says = {">": "the mini-batch norm stays {r:ratio} above the full-batch one: near the end most of what it measures "
                 "is the sampling noise of batches of {b:int} of the {n:int} points, a floor the full gradient is below",
            "<": "the mini-batch norm is below the full-batch one",
            "≈": "the two are indistinguishable at this scale: the batches' sampling noise adds little to the norm"
            }[claim.relation]
    return Finding("noise-floor", "Over the last {tail:int} epochs the mini-batch gradient norm averaged {m} and the "
                   "full-batch gradient norm {f} (mean ± standard error over the epochs): " + says + ".",
                   {"tail": tail, "m": fmt_estimate(mini), "f": fmt_estimate(full), "r": mini.value / full.value,
                    "b": cfg.train.batch_size, "n": cfg.n_train},
                   [claim])


def plateau_escape(norm: pd.Series, loss: pd.Series) -> Finding:
    """Where the loss falls fastest (over a window of 2 % of the epochs) and what the gradient norm does there,
    against the window before it: a loss leaving a plateau needs a larger gradient."""
    w = max(2, len(loss) // 50)
    fall = -np.log(loss).diff()  # the loss's fall in each epoch
    centre = int(fall.rolling(w, center=True, min_periods=1).mean().idxmax())  # the middle of the fastest fall
    start, end = max(0, centre - w // 2), min(len(loss) - 1, centre + w // 2)
    before = norm.iloc[max(0, start - w):start]
    during = norm.iloc[start:end + 1]
    if len(before) < 2 or len(during) < 2:
        return Finding("plateau-escape", "The loss fell fastest in its first epochs, so there is no plateau before "
                       "the drop to compare the gradient norm with.", {})
    b, d = over_seeds(before, "epochs"), over_seeds(during, "epochs")
    claim = pair("epoch-mean gradient norm", ("during the fastest drop", "before it"), d, b)
    says = {">": "the norm rises as the loss drops: leaving the plateau takes a larger gradient, which falls again "
                 "once the loss has dropped",
            "<": "the norm is lower during the drop than before it",
            "≈": "the norm during the drop is indistinguishable from before it at this scale"}[claim.relation]
    return Finding("plateau-escape", "The loss fell fastest over epochs {a:int}–{e:int} ({l0:sig} → {l1:sig}); the "
                   "epoch-mean gradient norm was {nd} there against {nb} over the {k:int} epochs before: " + says + ".",
                   {"a": start + 1, "e": end + 1, "l0": float(loss.iloc[max(0, start - 1)]), "l1": float(loss.iloc[end]),
                    "nd": fmt_estimate(d), "nb": fmt_estimate(b), "k": len(before)}, [claim])
