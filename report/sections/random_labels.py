"""Report section. HW1-3 random labels: an MLP memorises MNIST with shuffled training labels (Zhang et al. 2017), on
training sets of several sizes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.random_labels import Config, Result

from .. import plots
from ..claims import Estimate, accuracy, correlation, pair, trend
from ..format import fmt_estimate, train_text
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import CHANCE_MARGIN, MNIST_TEST

TITLE = "Can the network fit random labels?"
PART = "HW1-3 Generalisation"

QUESTIONS = [
    Question("Describe the settings: task, learning rate, optimiser", "1", ["setup"]),
    Question("Training and test loss against epochs", "1", ["fig:curves", "table:milestones", "findings"]),
]
FIGURES = ("curves",)
TABLES = ("milestones",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def setup(cfg: Config) -> list[tuple[str, str]]:
    sizes = ", ".join(f"{n:,}" for n in cfg.sizes)
    return [
        ("Task", f"MNIST resized to 32×32 (bilinear), normalised with mean 0.1307 and sd 0.3081; one run per training "
                 f"set of {sizes} images (fixed random subsets of the 60,000); test: "
                 f"{'all 10,000' if not cfg.n_test else f'{cfg.n_test:,}'}"),
        ("Labels", f"each training set's labels randomly permuted once (seed {cfg.label_seed}), so they carry no "
                   "information about the image; test labels are the true ones"),
        ("Model", f"{cfg.model} ({models.param_count_of(cfg.model):,} params)"),
        ("Optimiser", train_text(cfg.train)),
        ("Why these settings", "memorising is the question, so the learning rate and the training sets are chosen "
                               "to memorise within minutes on a CPU: in the probes behind this choice no rate from "
                               "1e-4 to 1e-3 memorised all 60,000 images within hours, while 10,000 images at lr 3e-4 "
                               "did within 300 epochs. The sizes show how the time to memorise grows with the number "
                               "of labels to learn; the all-data run stays a setting away (random-labels.sizes=60000, "
                               "random-labels.train.lr=1e-4, random-labels.train.epochs=1000)"),
        ("Memorised", f"training accuracy on the shuffled labels (running mean over the epoch's batches) of at least "
                      f"{MEMORISED:.0%}"),
    ]


MEMORISED = 0.9  # the training accuracy on shuffled labels that counts as memorised
HALFWAY = 0.5


def first_epoch_at(acc: np.ndarray, level: float) -> int:
    """The first (1-based) epoch whose accuracy reaches `level`; 0 when none does."""
    hit = np.flatnonzero(acc >= level)
    return int(hit[0]) + 1 if len(hit) else 0


def test_loss_min_epoch(test_loss: np.ndarray) -> int:
    """The (1-based) epoch with the lowest test loss; 0 when no epoch has a finite one."""
    return int(np.nanargmin(test_loss)) + 1 if np.isfinite(test_loss).any() else 0


def runs(res: Result) -> pd.DataFrame:
    """One row per training-set size: when it reached half and memorised, where it ended, its test-loss minimum."""
    rows = []
    for i, n in enumerate(res.sizes):
        acc, test_loss = res.train_acc[i], res.test_loss[i]
        last = np.flatnonzero(np.isfinite(res.train_loss[i]))
        end = int(last[-1]) if len(last) else 0
        rows.append({"images": int(n), "label_agreement": float(res.label_agreement[i]),
                     "epoch_half": first_epoch_at(acc, HALFWAY), "epoch_memorised": first_epoch_at(acc, MEMORISED),
                     "final_train_acc": float(acc[end]), "final_train_loss": float(res.train_loss[i, end]),
                     "first_train_loss": float(res.train_loss[i, 0]), "final_test_acc": float(res.test_acc[i, end]),
                     "test_loss_min_epoch": test_loss_min_epoch(test_loss),
                     "test_loss_min": float(np.nanmin(test_loss)) if np.isfinite(test_loss).any() else np.nan,
                     "final_test_loss": float(test_loss[end]), "epochs": end + 1,
                     "diverged_epoch": int(res.diverged_epoch[i])})
    return pd.DataFrame(rows)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    x = plots.epochs_axis(res.train_loss.shape[1])
    fig, (ax1, ax2) = plots.new_figure(1, 2, height=4.4)
    for color, n, train_loss, test_loss, acc in zip(plots.COLORS, res.sizes, res.train_loss, res.test_loss,
                                                    res.train_acc):
        ax1.plot(x, train_loss, color=color, label=f"{n:,}: train (random labels)")
        ax1.plot(x, test_loss, color=color, linestyle="--", linewidth=0.9, label=f"{n:,}: test (true labels)")
        ax2.plot(x, acc, color=color, label=f"{n:,} images")
    ax1.set(xlabel="epoch", ylabel="cross-entropy (log)", yscale="log", title="Loss")
    ax2.axhline(MEMORISED, color="grey", linewidth=0.8, linestyle="--", label=f"memorised ({MEMORISED:.0%})")
    ax2.axhline(0.1, color="grey", linewidth=0.8, linestyle=":", label="chance (10%)")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy on the shuffled labels", ylim=(0, 1.02))
    for ax in (ax1, ax2):
        plots.legend_below(ax, ncols=2)
        plots.integer_ticks(ax)
    return [FigureSpec("curves", "Training on randomly permuted labels, one colour per training-set size: loss "
                                 "(left; solid: training on the shuffled labels, dashed: test with the true labels) "
                                 "and training accuracy (right) per epoch.", fig)]


def epoch_text(epoch: int, epochs: int) -> str:
    return f"{epoch:,}" if epoch else f"not in {epochs:,}"


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = runs(res)
    frame = pd.DataFrame({
        "training images": [f"{n:,}" for n in t["images"]],
        f"epoch at {HALFWAY:.0%}": [epoch_text(e, n) for e, n in zip(t["epoch_half"], t["epochs"])],
        f"epoch at {MEMORISED:.0%}": [epoch_text(e, n) for e, n in zip(t["epoch_memorised"], t["epochs"])],
        "final train acc": [f"{a:.1%}" for a in t["final_train_acc"]],
        "final train loss": [f"{v:.3g}" for v in t["final_train_loss"]],
        "final test acc (± se)": [fmt_estimate(accuracy(a, cfg.n_test or MNIST_TEST), "pct") for a in t["final_test_acc"]],
        "test loss: lowest (epoch) → final": [f"{lo:.3g} ({e:,}) → {end:.3g}" for lo, e, end in
                                              zip(t["test_loss_min"], t["test_loss_min_epoch"], t["final_test_loss"])],
    })
    return [TableSpec("milestones", "Per training-set size: the epochs at which the training accuracy on the shuffled "
                                    f"labels first reached {HALFWAY:.0%} and {MEMORISED:.0%}, where each run ended, and "
                                    "its test loss.", frame)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = runs(res)
    out = [Finding("labels-at-chance", "Between {lo:pct} and {hi:pct} of the permuted training labels equal the true "
                   "ones: chance level, so the labels carry nothing the images could predict.",
                   {"lo": t["label_agreement"].min(), "hi": t["label_agreement"].max()})]
    for _, r in t.iterrows():
        n = int(r["images"])
        if r["diverged_epoch"]:
            out.append(Finding(f"diverged.{n}", "The run on {n:count} images diverged (non-finite training loss) at "
                               "epoch {e:int}; later epochs have no measurements.", {"n": n, "e": r["diverged_epoch"]}))
        elif r["epoch_memorised"]:
            out.append(Finding(f"memorised.{n}", "On {n:count} images the network memorised the shuffled labels: "
                               "{level:pct} training accuracy at epoch {e:count}, {acc:pct} after {epochs:count} "
                               "(training loss {l0:sig} → {l1:sig}), as Zhang et al. (2017) found.",
                               {"n": n, "level": MEMORISED, "e": r["epoch_memorised"], "acc": r["final_train_acc"],
                                "epochs": r["epochs"], "l0": r["first_train_loss"], "l1": r["final_train_loss"]}))
        else:
            out.append(Finding(f"not-memorised.{n}", "On {n:count} images the training accuracy reached {acc:pct} "
                               "after {epochs:count} epochs: not memorised yet ({level:pct}) within this budget.",
                               {"n": n, "acc": r["final_train_acc"], "epochs": r["epochs"], "level": MEMORISED}))
    done = t[(t["epoch_memorised"] > 0) & (t["diverged_epoch"] == 0)].sort_values("images")
    if len(done) >= 2:
        small, large = done.iloc[0], done.iloc[-1]
        r = trend(done["images"], done["epoch_memorised"])
        says = {"rising": "grows with the training set (Spearman {rho:sig}, p = {p:sig})",
                "falling": "falls with the training set (Spearman {rho:sig}, p = {p:sig})"}.get(
            r.relation, "cannot be called a trend: {k:int} sizes of one seed each carry none"
            if r.n < 3 else "cannot be called a trend: over {k:int} sizes of one seed each a rank correlation of "
                            "{rho:sig} is not clear of chance (p = {p:sig})")
        out.append(Finding("time-to-memorise", "The epochs needed to memorise: {e0:count} on {n0:count} images, "
                           "{e1:count} on {n1:count} ({size:ratio} the images, {time:ratio} the epochs, {work:ratio} "
                           "the steps); the epoch count " + says + ".",
                           {"e0": small["epoch_memorised"], "n0": small["images"], "e1": large["epoch_memorised"],
                            "n1": large["images"], "size": large["images"] / small["images"],
                            "time": large["epoch_memorised"] / small["epoch_memorised"],
                            "work": large["epoch_memorised"] * large["images"] /
                            (small["epoch_memorised"] * small["images"]), "rho": r.rho, "p": r.p, "k": r.n},
                           [correlation("Spearman over sizes", "training images", "epochs to memorise", r)]))
    n_test = cfg.n_test or MNIST_TEST
    chance = Estimate(0.1, 0.0, n_test, "test examples")
    vs_chance = [pair("test accuracy", (f"{int(r['images']):,} images", "chance"),
                      accuracy(float(r["final_test_acc"]), n_test), chance) for _, r in t.iterrows()]
    above = [c for c in vs_chance if c.relation == ">"]
    below = [c for c in vs_chance if c.relation == "<"]
    test_acc = t["final_test_acc"]
    near = (test_acc - 0.1).abs().max() <= CHANCE_MARGIN
    out.append(Finding("test-acc-vs-chance", "Test accuracy (true labels) ended between {lo:pct} and {hi:pct}, against "
                       "a chance level of 10%; {k:int} of {m:int} runs are clearly above chance" +
                       (" and {kb:int} clearly below it" if below else "") + " (beyond the binomial "
                       "sampling error over {n:count} test images)" +
                       (", by at most {most:sig} points: what the network learned from shuffled labels hardly "
                        "transfers." if near else "."),
                       {"lo": test_acc.min(), "hi": test_acc.max(), "k": len(above), "kb": len(below),
                        "m": len(vs_chance), "n": n_test,
                        "most": 100 * (test_acc.max() - 0.1)}, vs_chance))
    for _, r in done.iterrows():
        n, rise = int(r["images"]), r["test_loss_min_epoch"]
        if rise and rise < r["epochs"]:
            out.append(Finding(f"test-loss-min.{n}", "On {n:count} images the test loss was lowest at epoch {e:int} "
                               "({lo:sig}) and then rose to {end:sig} ({r:ratio}) as the network fitted the noise.",
                               {"n": n, "e": rise, "lo": r["test_loss_min"], "end": r["final_test_loss"],
                                "r": r["final_test_loss"] / r["test_loss_min"]}))
    return out
