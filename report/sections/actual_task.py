"""Report section. HW1-1 actual task: three CNNs on CIFAR-10 and three on MNIST."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hw1core import engine, models
from hw1core.experiments.actual_task import Config, Curves, Result, plan

from .. import plots
from ..claims import Estimate, accuracy, best_of, pair
from ..format import fmt_estimate, train_text
from ..layers import depth
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import CIFAR_TEST, MNIST_TEST, how_it_failed, run_state, trained

TITLE = "Train on actual tasks"
PART = "HW1-1 Deep vs shallow"

QUESTIONS = [
    Question("Describe the models (with their parameter counts) and the tasks", "0.5", ["setup"]),
    Question("Training loss of all models in one chart", "0.5", ["fig:loss-CIFAR-10", "fig:loss-MNIST"]),
    Question("Training accuracy of all models in one chart", "0.5", ["fig:acc-CIFAR-10", "fig:acc-MNIST"]),
    Question("Comment on the results", "1", ["table:summary", "findings"]),
    Question("Bonus: more than two models; more than one task", "0.25 + 0.25", ["bonus"]),
]
FIGURES = ("loss-CIFAR-10", "acc-CIFAR-10", "loss-MNIST", "acc-MNIST")
TABLES = ("summary",)
PLATEAU_PP = 0.005  # "stopped improving": within half a percentage point of the best test accuracy
FULL_SIZES = {"CIFAR-10": (50_000, CIFAR_TEST), "MNIST": (60_000, MNIST_TEST)}  # (train, test) images of each set


def architectures(cfg: Config) -> list[str]:
    return list(cfg.cifar_models) + list(cfg.mnist_models)


def size(n: int, full: int) -> str:
    return f"{n:,} of {full:,} (fixed random subset)" if 0 < n < full else f"all {full:,}"


def setup(cfg: Config) -> list[tuple[str, str]]:
    rows = []
    for name, (archs, tc, sizes) in plan(cfg).items():
        full_train, full_test = FULL_SIZES[name]
        rows += [
            (f"{name} data", f"train {size(sizes.n_train, full_train)}; test {size(sizes.n_test, full_test)}"),
            (f"{name} models", ", ".join(f"{m} ({models.param_count_of(m):,} params)" for m in archs)),
            (f"{name} training", f"cross-entropy on logits; {train_text(tc)}"),
        ]
    rows.append(("Inputs", "CIFAR-10: random crop 32 (reflect padding 4) and horizontal flip, normalised with the "
                           "channel means and standard deviations; MNIST: pixels scaled to [0, 1]"))
    rows.append(("Metrics", "training loss/accuracy are averages over each epoch's mini-batches; test metrics are "
                            "measured after each epoch in evaluation mode"))
    return rows


def curves_by_dataset(res: Result) -> dict[str, Curves]:
    """Each data set's curves, under the names `plan` gives them."""
    return {"CIFAR-10": res.cifar, "MNIST": res.mnist}


def has_cuts(tc: engine.TrainConfig) -> bool:
    """Whether the step schedule cuts the learning rate inside the run."""
    return 0 < tc.step_size < tc.epochs


def plateau_epoch(test_acc: np.ndarray, best: float) -> int:
    """The first (1-based) epoch whose test accuracy is within PLATEAU_PP of the best; 0 if none is finite."""
    return int(np.flatnonzero(test_acc >= best - PLATEAU_PP)[0]) + 1 if np.isfinite(best) else 0


def summary(cfg: Config, res: Result) -> pd.DataFrame:
    """One row per data set and model: the metrics of its last finite epoch, its best test accuracy and that
    epoch, the epoch it came within PLATEAU_PP of that best, and the epoch it diverged in (0 = never)."""
    rows = []
    for name, (archs, _, _) in plan(cfg).items():
        c = curves_by_dataset(res)[name]
        for j, arch in enumerate(archs):
            test_acc = c.test_acc[j]
            finite = np.isfinite(test_acc)
            best = int(np.nanargmax(test_acc)) if finite.any() else -1
            best_acc = test_acc[best] if best >= 0 else np.nan
            last = int(np.flatnonzero(finite)[-1]) if finite.any() else -1
            rows.append({"dataset": name, "model": arch, "params": models.param_count_of(arch),
                         "train_loss": c.train_loss[j, last], "train_acc": c.train_acc[j, last],
                         "test_loss": c.test_loss[j, last], "test_acc": test_acc[last],
                         "best_test_acc": best_acc, "best_epoch": best + 1,
                         "plateau_epoch": plateau_epoch(test_acc, best_acc),
                         "diverged_epoch": int(c.diverged_epoch[j])})
    return pd.DataFrame(rows)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    figs = []
    for name, (archs, tc, _) in plan(cfg).items():
        c = curves_by_dataset(res)[name]
        for metric, label, log in (("loss", "cross-entropy", True), ("acc", "accuracy", False)):
            fig, (ax,) = plots.new_figure(width=6.4, height=3.6)
            for j, (color, arch) in enumerate(zip(plots.COLORS, archs)):
                for split, style in (("train", "-"), ("test", "--")):
                    y = getattr(c, f"{split}_{metric}")[j]
                    ax.plot(plots.epochs_axis(len(y)), y, linestyle=style, color=color, linewidth=1.3,
                            marker="o" if len(y) <= 20 else None, markersize=3, label=f"{arch} {split}")
            if has_cuts(tc):
                for e in range(tc.step_size, tc.epochs, tc.step_size):
                    ax.axvline(e + 0.5, color="grey", linewidth=0.6, linestyle=":")
            ax.set(xlabel="epoch", ylabel=label + (" (log)" if log else ""), yscale="log" if log else "linear",
                   title=f"{name}: {label}")
            note_zoom = ""
            if metric == "acc":
                note_zoom = zoom_to_later_epochs(ax, [getattr(c, f"{split}_acc") for split in ("train", "test")])
            plots.legend_below(ax, ncols=len(archs))
            plots.integer_ticks(ax)
            note = (" Dotted lines: learning-rate cuts." if has_cuts(tc) else "") + note_zoom
            figs.append(FigureSpec(f"{metric}-{name}", f"{name}: training (solid) and test (dashed) {label} per epoch "
                                                       f"of all models.{note}", fig))
    return figs


def zoom_to_later_epochs(ax, curves: list[np.ndarray]) -> str:
    """An accuracy axis zoomed to the range of the epochs after the first tenth, where the models' differences are;
    the caption's note when that leaves earlier points below the axis."""
    values = np.concatenate([c.reshape(-1, c.shape[-1]) for c in curves])
    start = max(1, values.shape[1] // 10)
    later = values[:, start:]
    if not np.isfinite(later).any() or values.shape[1] < 5:
        return ""
    lo, hi = float(np.nanmin(later)), float(np.nanmax(later))
    pad = 0.1 * max(hi - lo, 0.005)
    ax.set_ylim(lo - pad, min(1.0, hi + pad))
    early = np.nanmin(values[:, :start]) < lo - pad
    return f" The accuracy axis is zoomed to epochs {start + 1} onward; earlier points lie below it." if early else ""


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = summary(cfg, res)
    frame = pd.DataFrame({
        "data": t["dataset"], "model": t["model"], "params": t["params"],
        "train loss": t["train_loss"], "test loss": t["test_loss"],
        "train acc": [f"{a:.1%}" for a in t["train_acc"]],
        "test acc (± se)": [fmt_estimate(accuracy(a, curves_by_dataset(res)[d].n_test), "pct")
                            for a, d in zip(t["test_acc"], t["dataset"])],
        "best test acc (epoch)": [f"{a:.1%} ({e})" for a, e in zip(t["best_test_acc"], t["best_epoch"])],
        "state": [run_state(e, not ok) for e, ok in zip(t["diverged_epoch"], trained(t))],
    })
    return [TableSpec("summary", "Final metrics per model (last epoch) and the best test accuracy.", frame)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = summary(cfg, res)
    out = []
    for name, (_, tc, _) in plan(cfg).items():
        rows = t[t["dataset"] == name]
        for _, r in rows[rows["diverged_epoch"] > 0].iterrows():
            out.append(Finding(f"diverged.{name}.{r['model']}",
                               "{model} diverged (non-finite loss) in epoch {e:int} on {name}; its curves stop there.",
                               {"model": r["model"], "e": int(r["diverged_epoch"]), "name": name}))
        for _, r in rows[(rows["diverged_epoch"] == 0) & ~trained(rows)].iterrows():
            out.append(Finding(f"at-chance.{name}.{r['model']}",
                               "On {name}, {model} " + how_it_failed(float(r["train_loss"])) + ": it failed to "
                               "train and is left out of the comparisons.",
                               {"model": r["model"], "name": name, "loss": float(r["train_loss"]),
                                "acc": float(r["train_acc"])}))
        rows = rows[trained(rows)].sort_values("test_acc", ascending=False)
        if rows.empty:
            continue
        n_test = curves_by_dataset(res)[name].n_test
        out.append(best_test_accuracy(name, rows, n_test))
        depth_finding = depth_comparison(name, rows, n_test)
        if depth_finding is not None:
            out.append(depth_finding)
        out += train_test_findings(name, rows, curves_by_dataset(res)[name], tc)
        out.append(plateau_finding(name, rows, tc))
    return out


def train_test_findings(name: str, rows: pd.DataFrame, c: Curves, tc: engine.TrainConfig) -> list[Finding]:
    """Each model's final test accuracy against its running training accuracy, by both sampling errors, in one
    observation: where test is clearly above training, why the training figure understates the fit."""
    by = rows.set_index("model")
    claims = {m: pair(f"final accuracy of {m} on {name}", ("test", "running training"),
                      accuracy(float(r["test_acc"]), c.n_test), accuracy(float(r["train_acc"]), c.n_train))
              for m, r in by.iterrows()}
    groups = {rel: [m for m, cl in claims.items() if cl.relation == rel] for rel in (">", "<", "≈")}
    listed = lambda ms: "; ".join(f"{m}: {by.loc[m, 'train_acc']:.1%} training, {by.loc[m, 'test_acc']:.1%} test"
                                  for m in ms)
    parts = []
    if groups["<"]:
        parts.append("training accuracy is clearly above test accuracy for " + listed(groups["<"]))
    if groups["≈"]:
        parts.append("the two are indistinguishable at this scale for " + listed(groups["≈"]))
    if groups[">"]:
        parts.append("test accuracy is clearly above training accuracy for " + listed(groups[">"]))
    text = ("On {name}, beyond the binomial sampling errors over {ntr:count} training and {nt:count} test images, " +
            ", ".join(parts) + ".")
    values = {"name": name, "ntr": c.n_train, "nt": c.n_test}
    if groups[">"]:
        text += (" The training figure is the running accuracy over the last epoch's {batches} in training "
                 "mode{dropout}, averaged while the weights still change, so it understates the fit; this comparison "
                 "cannot show whether a model overfits.")
        values |= {"batches": "augmented mini-batches" if name == "CIFAR-10" else "mini-batches",
                   "dropout": dropout_note(groups[">"])}
        if has_cuts(tc):
            text += (" By the last epoch the schedule had cut the learning rate to {factor}× its start, so the "
                     "weights change little within it and the running mean's lag is small: augmentation or dropout "
                     "is the likelier cause.")
            values["factor"] = f"{tc.gamma ** ((tc.epochs - 1) // tc.step_size):g}"
    return [Finding(f"train-vs-test.{name}", text, values, list(claims.values()))]


def dropout_note(archs: list[str]) -> str:
    """', with dropout active in M1 and M2' for the models that have dropout, or nothing."""
    with_dropout = [m for m in archs if any(isinstance(l, torch.nn.Dropout) for l in models.build(m).modules())]
    return f", with dropout active in {' and '.join(with_dropout)}" if with_dropout else ""


def test_accuracies(rows: pd.DataFrame, n_test: int) -> dict[str, Estimate]:
    """Each model's final test accuracy with its binomial sampling error over the n_test images (one run each)."""
    return {r["model"]: accuracy(float(r["test_acc"]), n_test) for _, r in rows.iterrows()}


def best_test_accuracy(name: str, rows: pd.DataFrame, n_test: int) -> Finding:
    """The model with the highest final test accuracy, told apart from the others only beyond sampling error."""
    acc = test_accuracies(rows, n_test)
    rank = best_of(f"test accuracy on {name}", acc)
    biggest = rows.loc[rows["params"].idxmax()]
    listed = lambda ms: " and ".join(f"{m} ({fmt_estimate(acc[m], 'pct')})" for m in ms)
    values = {"name": name, "best": rank.best, "acc": fmt_estimate(acc[rank.best], "pct"), "n": n_test,
              "tied": listed(rank.tied), "clear": listed(rank.clear), "big": biggest["model"],
              "bparams": int(biggest["params"]), "bacc": float(biggest["test_acc"])}
    if not rank.claims:
        return Finding(f"best-test-acc.{name}", "On {name}, {best} is the only model that trained: it reached {acc} "
                       "final test accuracy.", values)
    text = "On {name}, {best} reached the highest final test accuracy ({acc})"
    if rank.tied:
        text += (", indistinguishable at this scale from {tied} (the binomial sampling error over {n:count} test "
                 "images; p ≥ 0.05)" + (", and clearly above {clear}" if rank.clear else ""))
    else:
        text += ", clearly above {clear} (beyond the binomial sampling error over {n:count} test images)"
    if len(rows) > 2:
        text += "; the largest model, {big} ({bparams:count} parameters), reached {bacc:pct}"
    return Finding(f"best-test-acc.{name}", text + ".", values, rank.claims)


def depth_comparison(name: str, rows: pd.DataFrame, n_test: int) -> Finding | None:
    """The deepest trained model against the shallowest: the question's deep-vs-shallow comparison (None when all
    models have the same depth)."""
    depths = {m: depth(m) for m in rows["model"]}
    deep, shallow = max(depths, key=depths.get), min(depths, key=depths.get)  # type: ignore[arg-type]
    if depths[deep] == depths[shallow]:
        return None
    acc = test_accuracies(rows, n_test)
    claim = pair(f"test accuracy on {name}", (deep, shallow), acc[deep], acc[shallow])
    params = dict(zip(rows["model"], rows["params"]))
    words = {">": "higher than", "<": "lower than", "≈": "indistinguishable at this scale from"}[claim.relation]
    return Finding(f"depth.{name}",
                   "Deep against shallow on {name}: {deep} ({dl:int} weight layers, {dp:count} parameters) reached "
                   "{da} test accuracy, " + words + " {shallow}'s {sa} ({sl:int} weight layers, {sp:count} "
                   "parameters)" + (", at {ratio:ratio} its parameters, so the comparison is not at equal size"
                                    if not 0.5 <= params[deep] / params[shallow] <= 2 else "") + ".",
                   {"name": name, "deep": deep, "dl": depths[deep], "dp": int(params[deep]),
                    "da": fmt_estimate(acc[deep], "pct"), "shallow": shallow, "sl": depths[shallow],
                    "sp": int(params[shallow]), "sa": fmt_estimate(acc[shallow], "pct"),
                    "ratio": params[deep] / params[shallow]}, [claim])


def plateau_finding(name: str, rows: pd.DataFrame, tc: engine.TrainConfig) -> Finding:
    """When test accuracy stopped improving, and whether the learning-rate schedule explains it."""
    latest = rows.loc[rows["plateau_epoch"].idxmax()]
    epoch, step, epochs = int(latest["plateau_epoch"]), tc.step_size, tc.epochs
    values: dict[str, int | str] = {"name": name, "model": latest["model"], "epoch": epoch, "epochs": epochs,
                                    "pp": f"{100 * PLATEAU_PP:g}"}
    text = ("On {name}, every model came within {pp} points of its best test accuracy by epoch {epoch:int} of "
            "{epochs:int} ({model} last). ")
    if epoch >= epochs:
        return Finding(f"plateau.{name}", "On {name}, {model} reached its best test accuracy only in the last epoch "
                                          "({epochs:int}): the run ended before test accuracy stopped improving.",
                       values)
    if not step or step >= epochs:
        text += ("The learning rate was constant over the run, so the flattening is the fit saturating, not a schedule."
                 if step == 0 else "No learning-rate cut fell inside this run (the first is after epoch {step:int}).")
        values["step"] = step
    else:
        cuts = list(range(step, epochs, step))
        before = [c for c in cuts if c < epoch]
        values |= {"cut": cuts[0], "n": len(before), "factor": f"{tc.gamma ** len(before):g}"}
        if before:
            text += ("By then the StepLR schedule had cut the learning rate " + ("once" if len(before) == 1 else "{n:int} times") + ", after epoch {cut:int}"
                     + (" and every {step:int} epochs after" if len(before) > 1 else "") +
                     ", to {factor}× its start.")
        else:
            text += ("That is before the first learning-rate cut (after epoch {cut:int}), so the schedule did not "
                     "cause the flattening: the fit saturated at the initial learning rate.")
        values["step"] = step
    return Finding(f"plateau.{name}", text, values)


def bonus(cfg: Config, res: Result) -> str:
    tasks = plan(cfg)
    n = sum(len(archs) for archs, _, _ in tasks.values())
    return f"{n} models on {len(tasks)} tasks ({', '.join(tasks)})."
