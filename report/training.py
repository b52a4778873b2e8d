"""When a run counts as one that trained, and when a loss curve has settled: the rules every section applies before a
run enters a mean, a trend or a comparison, stated once so that the report's setup tables can quote them."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .claims import Claim, paired

CIFAR_TEST = 10_000  # images in CIFAR-10's test split
MNIST_TEST = 10_000  # ... and in MNIST's


def cifar_test_images(n_test: int) -> int:
    """How many CIFAR-10 test images a `data.n_test` setting evaluates on (0: the whole split): the n behind a
    run's binomial sampling error."""
    return min(n_test, CIFAR_TEST) if n_test else CIFAR_TEST


CHANCE_MARGIN = 0.05  # accuracy within this of chance (1 / classes) ...
CHANCE_LOSS_SHARE = 0.95  # ... with a loss of at least this share of ln(classes): a constant predictor
FAILED_RULE = (f"a run failed to train when its loss is not finite, or when its final training accuracy is within "
               f"{CHANCE_MARGIN * 100:.0f} points of chance and its training loss at least {CHANCE_LOSS_SHARE:.0%} of "
               f"ln(classes), the loss of a constant prediction; failed runs are marked and left out of every mean "
               f"and trend")


def failed_to_train(loss: float, acc: float, classes: int = 10) -> bool:
    """A classifier that diverged, or that ended predicting about the same class distribution for every input."""
    if not math.isfinite(loss):
        return True
    return acc <= 1 / classes + CHANCE_MARGIN and loss >= CHANCE_LOSS_SHARE * math.log(classes)


def how_it_failed(loss: float, classes: int = 10) -> str:
    """How a failed run ended, as a sentence fragment quoting the finding's values {loss:sig} and {acc:pct}: at chance
    (a loss near ln(classes)), or far above it (the weights blew up without becoming non-finite)."""
    if not math.isfinite(loss):
        return "ended with a non-finite loss"
    chance = f"ln {classes} = {math.log(classes):.2f}"
    if loss > 1.5 * math.log(classes):
        return f"ended with a training loss of {{loss:sig}}, far above {chance}, and {{acc:pct}} accuracy"
    return f"ended at chance (training loss {{loss:sig}} against {chance}, accuracy {{acc:pct}})"


def trained(frame: pd.DataFrame, loss: str = "train_loss", acc: str = "train_acc", classes: int = 10) -> pd.Series:
    """Per row of `frame`, whether its run trained (by its final `loss` and `acc` columns)."""
    return pd.Series([not failed_to_train(l, a, classes) for l, a in zip(frame[loss], frame[acc])], index=frame.index,
                     dtype=bool)


def run_state(diverged_epoch: int, failed: bool) -> str:
    """A run's state for a table: trained, failed to train, or diverged in epoch e."""
    return f"diverged (epoch {diverged_epoch})" if diverged_epoch else "failed to train" if failed else "trained"


def failed_points(rows: pd.DataFrame, column: str, ok: str = "trained") -> dict:
    """The values of a swept `column` at which no run trained (by the boolean column `ok`), each with why: for a
    figure to mark, never to plot."""
    return {v: "diverged" if (g["diverged_epoch"] > 0).all() else "failed to train"
            for v, g in rows.groupby(column) if not g[ok].any()}


def partly_failed_points(rows: pd.DataFrame, column: str, ok: str = "trained") -> dict:
    """The values of a swept `column` at which some runs trained and some did not: (runs that did not, runs)."""
    return {v: (int((~g[ok]).sum()), len(g)) for v, g in rows.groupby(column) if 0 < (~g[ok]).sum() < len(g)}


def training_spread(rows: pd.DataFrame, column: str) -> float:
    """How unequally a sweep's points trained: the largest over the smallest mean final training loss (over the
    seeds) of the values of `column`, among the runs in `rows` (those that trained). The scaled batch sweep is only
    called matched where this is no larger than at one learning rate."""
    means = rows.groupby(column)["train_loss"].mean()
    return float(means.max() / means.min())


def seed_spreads(rows: pd.DataFrame, column: str) -> pd.Series:
    """training_spread within each seed: one value per seed with at least two trained points."""
    by_seed = rows.groupby("seed")
    return (by_seed["train_loss"].max() / by_seed["train_loss"].min())[by_seed[column].nunique() > 1]


def spread_claim(fixed: pd.DataFrame, scaled: pd.DataFrame, column: str) -> Claim:
    """Whether the scaled sweep trained its points more equally than the fixed one: each seed's spread in the two
    sweeps, paired by seed (a seed starts both sweeps from one initialisation)."""
    a, b = seed_spreads(fixed, column), seed_spreads(scaled, column)
    both = a.index.intersection(b.index)
    return paired("training spread (largest over smallest final training loss)", ("fixed lr", "scaled lr"),
                  a[both], b[both])


SETTLE_BAND = 0.1  # a loss has settled once it stays within this fraction of its final value ...
SETTLE_SMOOTHING = 0.01  # ... smoothed by a running median over this share of the epochs
STILL_FALLING = 0.9  # a curve that settles only after this share of its epochs is still falling
SETTLE_RULE = (f"the first epoch after which the full-batch training loss, smoothed by a running median over "
               f"{SETTLE_SMOOTHING:.0%} of the epochs, stays within {SETTLE_BAND:.0%} of its final value; a run that "
               f"settles only in its last {1 - STILL_FALLING:.0%} of epochs is still falling")


def settled_epoch(loss: np.ndarray) -> int | None:
    """The (1-based) epoch from which the smoothed loss stays within SETTLE_BAND of its final value; None when the
    curve is not finite to the end or settles only after STILL_FALLING of its epochs."""
    if len(loss) == 0 or not np.isfinite(loss).all():
        return None
    window = max(1, round(SETTLE_SMOOTHING * len(loss)))
    smooth = pd.Series(loss).rolling(window, min_periods=1).median().to_numpy()
    final = smooth[-1]
    outside = np.flatnonzero(np.abs(smooth - final) > SETTLE_BAND * abs(final))
    epoch = int(outside[-1]) + 2 if len(outside) else 1
    return epoch if epoch <= STILL_FALLING * len(loss) else None
