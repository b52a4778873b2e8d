"""HW1-1 actual task: three CNNs on CIFAR-10 (report R) and three on MNIST (report V)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import data, engine, models, plots
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..store import Results

ID = "actual-task"
TITLE = "Train on actual tasks"
PART = "HW1-1 Deep vs shallow"
PLATEAU_PP = 0.005  # "stopped improving": within half a percentage point of the best test accuracy


@dataclass
class Config:
    cifar_models: tuple = ("CNN-shallow", "CNN-deep", "CNN-wide")
    cifar_epochs: int = 100
    cifar_batch: int = 64
    cifar_lr: float = 4e-4
    cifar_step: int = 10
    cifar_gamma: float = 0.1
    cifar_train: int = 0  # 0 = the whole split
    cifar_test: int = 0
    mnist_models: tuple = ("MNIST-CNN-1", "MNIST-CNN-2", "MNIST-CNN-3")
    mnist_epochs: int = 15
    mnist_batch: int = 500
    mnist_lr: float = 1e-3
    mnist_train: int = 0
    mnist_test: int = 0
    weight_decay: float = 1e-4
    seed: int = 0


QUICK = dict(cifar_epochs=3, cifar_train=4000, cifar_test=1000, mnist_epochs=3, mnist_train=10000, mnist_test=2000)

QUESTIONS = [
    Question("Describe the models (with their parameter counts) and the tasks", "0.5", ["setup"]),
    Question("Training loss of all models in one chart", "0.5", ["fig:loss-CIFAR-10", "fig:loss-MNIST"]),
    Question("Training accuracy of all models in one chart", "0.5", ["fig:acc-CIFAR-10", "fig:acc-MNIST"]),
    Question("Comment on the results", "1", ["table:summary", "findings"]),
    Question("Bonus: more than two models; more than one task", "0.25 + 0.25", ["bonus"]),
]


def datasets(cfg: Config) -> dict[str, dict]:
    """Per data set: models and training settings, in one place for run, setup and figures."""
    return {
        "CIFAR-10": dict(models=list(cfg.cifar_models), n_train=cfg.cifar_train, n_test=cfg.cifar_test,
                         train=engine.TrainConfig(cfg.cifar_epochs, cfg.cifar_batch, cfg.cifar_lr, cfg.weight_decay,
                                                  cfg.cifar_step, cfg.cifar_gamma),
                         transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)),
        "MNIST": dict(models=list(cfg.mnist_models), n_train=cfg.mnist_train, n_test=cfg.mnist_test,
                      train=engine.TrainConfig(cfg.mnist_epochs, cfg.mnist_batch, cfg.mnist_lr, cfg.weight_decay),
                      transform=data.image_transform(None, None, augment=False)),
    }


def architectures(cfg: Config) -> list[str]:
    return list(cfg.cifar_models) + list(cfg.mnist_models)


def size(n: int, full: int) -> str:
    return f"{n:,} of {full:,} (fixed random subset)" if 0 < n < full else f"all {full:,}"


def setup(cfg: Config) -> list[tuple[str, str]]:
    rows = []
    for name, d in datasets(cfg).items():
        tc = d["train"]
        full_train, full_test = (50_000, 10_000) if name == "CIFAR-10" else (60_000, 10_000)
        sched = f"StepLR ×{tc.gamma:g} every {tc.step_size} epochs" if tc.step_size else "constant learning rate"
        rows += [
            (f"{name} data", f"train {size(d['n_train'], full_train)}; test {size(d['n_test'], full_test)}"),
            (f"{name} models", ", ".join(f"{m} ({models.param_count(models.build(m)):,} params)" for m in d["models"])),
            (f"{name} training", f"cross-entropy on logits; Adam lr {tc.lr:g}, weight decay {tc.weight_decay:g}, "
                                 f"{sched}; batch {tc.batch_size}; {tc.epochs} epochs; seed {cfg.seed}"),
        ]
    rows.append(("Inputs", "CIFAR-10: random crop 32 (reflect padding 4) and horizontal flip, normalised with the "
                           "channel means and standard deviations; MNIST: pixels scaled to [0, 1]"))
    rows.append(("Metrics", "training loss/accuracy are averages over each epoch's mini-batches; test metrics are "
                            "measured after each epoch in evaluation mode"))
    return rows


def train_one(arch: str, d: dict, train: data.Split, test: data.Split, seed: int) -> dict:
    ens = engine.Ensemble(arch, [seed], train.x.device)
    task = engine.Task(train.x, train.y, test.x, test.y, d["transform"])
    hist = engine.train(ens, task, d["train"], desc=f"actual-task {arch}", seed=seed)
    return hist.member(0)


def run(cfg: Config, ctx) -> Results:
    res = Results(values={"config": asdict(cfg), "params": {}, "steps": 0, "datasets": {}})
    rows = []
    for name, d in datasets(cfg).items():
        train, test = ctx.dataset(name)
        train, test = train.subset(d["n_train"] or None, cfg.seed), test.subset(d["n_test"] or None, cfg.seed)
        tc = d["train"]
        res.values["datasets"][name] = {"models": d["models"], "n_train": len(train.y), "n_test": len(test.y),
                                        "epochs": tc.epochs, "step_size": tc.step_size, "gamma": tc.gamma}
        for arch in d["models"]:
            h = ctx.part(f"{name}-{arch}", lambda: train_one(arch, d, train, test, cfg.seed))
            res.values["params"][arch] = models.param_count(models.build(arch))
            res.values["steps"] += int(h["steps"])
            for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
                res.arrays[f"{k}/{name}/{arch}"] = h[k]
            test_acc = h["test_acc"]
            finite = np.isfinite(test_acc)
            best = int(np.nanargmax(test_acc)) if finite.any() else -1
            last = int(np.flatnonzero(finite)[-1]) if finite.any() else -1
            plateau = int(np.flatnonzero(test_acc >= test_acc[best] - PLATEAU_PP)[0]) + 1 if best >= 0 else 0
            rows.append({"dataset": name, "model": arch, "params": res.values["params"][arch],
                         "train_loss": h["train_loss"][last], "train_acc": h["train_acc"][last],
                         "test_loss": h["test_loss"][last], "test_acc": h["test_acc"][last],
                         "best_test_acc": test_acc[best] if best >= 0 else np.nan, "best_epoch": best + 1,
                         "plateau_epoch": plateau, "diverged_epoch": int(h["diverged_epoch"])})
    res.tables["summary"] = pd.DataFrame(rows)
    return res


def figures(res: Results) -> list[FigureSpec]:
    figs = []
    for name, d in res.values["datasets"].items():
        for metric, label, log in (("loss", "cross-entropy", True), ("acc", "accuracy", False)):
            fig, (ax,) = plots.new_figure(width=6.4, height=3.6)
            for color, arch in zip(plots.COLORS, d["models"]):
                for split, style in (("train", "-"), ("test", "--")):
                    y = res.arrays[f"{split}_{metric}/{name}/{arch}"]
                    ax.plot(plots.epochs_axis(len(y)), y, linestyle=style, color=color, linewidth=1.3,
                            marker="o" if len(y) <= 20 else None, markersize=3, label=f"{arch} {split}")
            if d["step_size"] and d["step_size"] < d["epochs"]:
                for e in range(d["step_size"], d["epochs"], d["step_size"]):
                    ax.axvline(e + 0.5, color="grey", linewidth=0.6, linestyle=":")
            ax.set(xlabel="epoch", ylabel=label + (" (log)" if log else ""), yscale="log" if log else "linear",
                   title=f"{name}: {label}")
            ax.legend(fontsize=7, ncols=2)
            plots.integer_ticks(ax)
            note = " Dotted lines: learning-rate cuts." if d["step_size"] and d["step_size"] < d["epochs"] else ""
            figs.append(FigureSpec(f"{metric}-{name}", f"{name}: training (solid) and test (dashed) {label} per epoch "
                                                       f"of all models.{note}", fig))
    return figs


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["summary"]
    frame = pd.DataFrame({
        "data": t["dataset"], "model": t["model"], "params": t["params"],
        "train loss": t["train_loss"], "test loss": t["test_loss"],
        "train acc": [f"{a:.1%}" for a in t["train_acc"]], "test acc": [f"{a:.1%}" for a in t["test_acc"]],
        "best test acc (epoch)": [f"{a:.1%} ({e})" for a, e in zip(t["best_test_acc"], t["best_epoch"])],
        "diverged": [f"epoch {e}" if e else "no" for e in t["diverged_epoch"]],
    })
    return [TableSpec("summary", "Final metrics per model (last epoch) and the best test accuracy.", frame)]


def findings(res: Results) -> list[Finding]:
    t = res.tables["summary"]
    out = []
    for name, rows in t.groupby("dataset", sort=False):
        d = res.values["datasets"][name]
        for _, r in rows[rows["diverged_epoch"] > 0].iterrows():
            out.append(Finding("{model} diverged (non-finite loss) in epoch {e:int} on {name}; its curves stop there.",
                               {"model": r["model"], "e": r["diverged_epoch"], "name": name}))
        rows = rows.dropna(subset=["test_acc"]).sort_values("test_acc", ascending=False)
        if rows.empty:
            continue
        best, worst = rows.iloc[0], rows.iloc[-1]
        biggest = rows.loc[rows["params"].idxmax()]
        out.append(Finding(
            "On {name}, {best} reached the highest final test accuracy ({acc:pct}), {gap:sig} points above {worst} "
            "({wacc:pct}); the largest model, {big} ({bparams:count} parameters), reached {bacc:pct}.",
            {"name": name, "best": best["model"], "acc": best["test_acc"], "worst": worst["model"],
             "wacc": worst["test_acc"], "gap": 100 * (best["test_acc"] - worst["test_acc"]), "big": biggest["model"],
             "bparams": biggest["params"], "bacc": biggest["test_acc"]}))
        gaps = (rows["train_acc"] - rows["test_acc"])
        g = rows.loc[gaps.idxmax()]
        if gaps.max() <= 0:
            out.append(Finding("On {name}, every model's final test accuracy is at or above its training accuracy "
                               "(by {gap:sig} points or more): the training figure is averaged over an epoch of "
                               "{aug} batches, and no model has begun to overfit.",
                               {"name": name, "gap": -100 * gaps.max(),
                                "aug": "augmented" if name == "CIFAR-10" else "mini-"}))
            out.append(plateau_finding(name, rows, d))
            continue
        out.append(Finding("The largest train–test accuracy gap on {name} is {model}'s: {gap:sig} points "
                           "({train:pct} train vs {test:pct} test).",
                           {"name": name, "model": g["model"], "gap": 100 * gaps.max(), "train": g["train_acc"],
                            "test": g["test_acc"]}))
        out.append(plateau_finding(name, rows, d))
    return out


def plateau_finding(name: str, rows: pd.DataFrame, d: dict) -> Finding:
    """When test accuracy stopped improving, and whether the learning-rate schedule explains it."""
    latest = rows.loc[rows["plateau_epoch"].idxmax()]
    epoch, step, epochs = int(latest["plateau_epoch"]), d["step_size"], d["epochs"]
    values = {"name": name, "model": latest["model"], "epoch": epoch, "epochs": epochs,
              "pp": f"{100 * PLATEAU_PP:g}"}
    text = ("On {name}, every model came within {pp} points of its best test accuracy by epoch {epoch:int} of "
            "{epochs:int} ({model} last). ")
    if epoch >= epochs:
        return Finding("On {name}, {model} reached its best test accuracy only in the last epoch ({epochs:int}): "
                       "the run ended before test accuracy stopped improving.", values)
    if not step or step >= epochs:
        text += ("The learning rate was constant over the run, so the flattening is the fit saturating, not a schedule."
                 if step == 0 else "No learning-rate cut fell inside this run (the first is after epoch {step:int}).")
        values["step"] = step
    else:
        cuts = list(range(step, epochs, step))
        before = [c for c in cuts if c < epoch]
        values |= {"cut": cuts[0], "n": len(before), "factor": f"{d['gamma'] ** len(before):g}"}
        if before:
            text += ("By then the StepLR schedule had cut the learning rate {n:int} time(s), after epoch {cut:int} and "
                     "every {step:int} epochs after, to {factor}× its start: the small steps freeze the weights, so "
                     "test accuracy stops moving.")
        else:
            text += ("That is before the first learning-rate cut (after epoch {cut:int}), so the schedule did not "
                     "cause the flattening: the fit saturated at the initial learning rate.")
        values["step"] = step
    return Finding(text, values)


def bonus(res: Results) -> str:
    n = sum(len(d["models"]) for d in res.values["datasets"].values())
    return f"{n} models on {len(res.values['datasets'])} tasks ({', '.join(res.values['datasets'])})."
