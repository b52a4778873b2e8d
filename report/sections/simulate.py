"""Report section. HW1-1 simulate: three MLPs of ~573 parameters fit two 1-D functions; several seeds each."""
from __future__ import annotations

import pandas as pd

from hw1core import models
from hw1core.experiments.simulate import AT_MEAN, FUNCTIONS, Config
from hw1core.results import Results

from .. import plots
from ..layers import depth
from ..outputs import FigureSpec, Finding, Question, TableSpec, by_row

TITLE = "Simulate a function"
PART = "HW1-1 Deep vs shallow"

QUESTIONS = [
    Question("Describe the models (with their parameter counts) and the functions", "0.5", ["setup", "fig:targets"]),
    Question("Training loss of all models in one chart", "0.5", ["fig:loss"]),
    Question("Predictions of all models and the ground truth in one graph", "0.5", ["fig:predictions"]),
    Question("Comment on the results", "1", ["table:summary", "findings"]),
    Question("Bonus: more than two models; more than one function", "0.25 + 0.25", ["bonus"]),
]
FIGURES = ("targets", "loss", "predictions")
TABLES = ("summary",)


def architectures(cfg: Config) -> list[str]:
    return list(cfg.models)


def setup(cfg: Config) -> list[tuple[str, str]]:
    return [
        ("Task", f"regression of {', '.join(f'{f}(x) = {FUNCTIONS[f][0]}' for f in cfg.functions)} on x ∈ [−1, 1]"),
        ("Training data", f"{cfg.n_train} evenly spaced points; predictions drawn on {cfg.n_grid} points"),
        ("Models", ", ".join(f"{m} ({models.param_count(models.build(m)):,} params)" for m in cfg.models)),
        ("Why these models", "the course's own example models, of nearly equal size (571 / 572 / 571 parameters). "
                             "Report R put one more 1→1 dense layer with its LeakyReLU in front of each (MLP-deep-r, "
                             "MLP-middle-r, MLP-shallow-r: 573 / 574 / 573); select them with --set "
                             "simulate.models=... to compare: the table and the findings count, for every model, the "
                             "seeds that stay at the mean of the function"),
        ("Initialisation", "He (Kaiming) normal for LeakyReLU, zero biases. With PyTorch's default (weight variance "
                           "1/(3·fan_in)) the signal shrinks at every layer: the 8-layer models start with an output "
                           "that is almost constant in x, and some seeds never leave the mean of f1. He init keeps "
                           "the signal's scale through depth"),
        ("Loss, optimiser", f"MSE; Adam, lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, constant learning rate"),
        ("Batch size, epochs", f"{cfg.batch_size}, {cfg.epochs:,} epochs (reshuffled every epoch)"),
        ("Seeds", f"{cfg.seeds} per model and function (seeds 0–{cfg.seeds - 1}); bands show min–max over "
                  "seeds; mean ± sd: the mean and the sample standard deviation (n − 1) over the seeds that did not "
                  "diverge"),
        ("Convergence", f"first epoch after which the loss changes by less than {cfg.converge_tol:g} between epochs"),
    ]


def figures(res: Results) -> list[FigureSpec]:
    cfg = res.values["config"]
    fns, archs = cfg["functions"], cfg["models"]
    grid = res.arrays["grid"]
    figs = []
    fig, axes = plots.new_figure(len(fns), height=2.8)
    for ax, f in zip(axes, fns):
        ax.plot(grid, res.arrays[f"truth/{f}"], color="black", linewidth=1.2)
        ax.set(title=f"{f}(x) = {FUNCTIONS[f][0]}", xlabel="x", ylabel=f"{f}(x)")
    figs.append(FigureSpec("targets", "The target functions on [−1, 1].", fig))

    fig, axes = plots.new_figure(len(fns), height=3.4)
    for ax, f in zip(axes, fns):
        for color, arch in zip(plots.COLORS, archs):
            loss = res.arrays[f"loss/{f}/{arch}"]
            plots.band(ax, plots.epochs_axis(loss.shape[1]), loss, f"{arch} ({res.values['params'][arch]:,})", color)
        ax.set(yscale="log", title=f"{f}: training loss", xlabel="epoch", ylabel="MSE (log)")
        ax.legend(fontsize=8)
    figs.append(FigureSpec("loss", f"Training loss per epoch of the three models, mean over {cfg['seeds']} seeds "
                                   "with a min–max band; one panel per function.", fig))

    fig, axes = plots.new_figure(len(fns), height=3.4)
    for ax, f in zip(axes, fns):
        ax.plot(grid, res.arrays[f"truth/{f}"], color="black", linewidth=2.2, alpha=0.35, label="ground truth")
        for color, arch in zip(plots.COLORS, archs):
            plots.band(ax, grid, res.arrays[f"pred/{f}/{arch}"], arch, color)
        ax.set(title=f"{f}: predictions", xlabel="x", ylabel="prediction")
        ax.legend(fontsize=8)
    figs.append(FigureSpec("predictions", "Predictions after training over the ground truth (mean over seeds, "
                                          "min–max band).", fig))
    return figs


def tables(res: Results) -> list[TableSpec]:
    t = res.tables["summary"]
    frame = pd.DataFrame({
        "function": t["function"], "model": t["model"], "params": t["params"],
        "final loss (mean ± sd)": [f"{m:.3g} ± {s:.2g}" for m, s in zip(t["final_loss_mean"], t["final_loss_sd"])],
        "final loss (median)": [f"{v:.3g}" for v in t["final_loss_median"]],
        "seeds at the mean": [f"{a}/{n}" for a, n in zip(t["runs_at_mean"], t["runs"])],
        "converged at epoch (median)": [f"{e:,.0f}" if c else "not converged" for e, c in
                                        zip(t["converged_epoch_median"], t["converged_runs"])],
        "runs converged": [f"{c}/{n}" for c, n in zip(t["converged_runs"], t["runs"])],
        "runs diverged": t["diverged_runs"],
    })
    return [TableSpec("summary", f"Final training loss and convergence epoch per function and model. A seed is at "
                                 f"the mean when its final MSE is at least {AT_MEAN:.0%} of the function's variance on "
                                 f"the training points (it predicts about a constant).", frame)]


def findings(res: Results) -> list[Finding]:
    t = res.tables["summary"]
    archs = res.values["config"]["models"]
    depths = {m: depth(m) for m in archs}
    deepest = [m for m in archs if depths[m] == max(depths.values())]
    out = []
    for f, rows in t.groupby("function", sort=False):
        rows = rows.dropna(subset=["final_loss_mean"]).sort_values("final_loss_mean")
        if rows.empty:
            continue
        best, worst = rows.iloc[0], rows.iloc[-1]
        verdict = ("the deepest model fitted best, as the homework expects of depth" if best["model"] in deepest else
                   "contrary to the homework's expectation that the deepest model ({deepest}, {layers:int} weight "
                   "layers) fits best")
        out.append(Finding("On {f}, {best} ({best_layers:int} weight layers) reached the lowest final training loss "
                           "({best_loss:sig}), {ratio:ratio} lower than {worst} ({worst_loss:sig}); " + verdict + ".",
                           {"f": f, "best": best["model"], "best_layers": depths[best["model"]],
                            "best_loss": best["final_loss_mean"], "worst": worst["model"],
                            "worst_loss": worst["final_loss_mean"], "deepest": " and ".join(deepest),
                            "layers": max(depths.values()),
                            "ratio": worst["final_loss_mean"] / best["final_loss_mean"]}))
    means = t.groupby("function", sort=False)["final_loss_mean"].mean()
    if len(means) >= 2 and means.notna().all():
        hard, easy = means.idxmax(), means.idxmin()
        out.append(Finding("Averaged over the models, {hard} ended with a {ratio:ratio} higher final loss than {easy}.",
                           {"hard": hard, "easy": easy, "ratio": means[hard] / means[easy]}))
    for _, r in t[(t["runs_at_mean"] > 0) | t["model"].str.endswith("-r")].iterrows():
        variant = " (report R's variant, with a 1→1 input layer)" if r["model"].endswith("-r") else ""
        out.append(Finding("{n:int} of {runs:int} seeds of {model}{variant} stayed at the mean of {f}: final MSE at "
                           "least {share:pct} of its variance ({var:sig}).",
                           {"n": r["runs_at_mean"], "runs": r["runs"], "model": r["model"], "variant": variant,
                            "f": r["function"], "share": AT_MEAN, "var": r["target_variance"]}))
    conv, total = int(t["converged_runs"].sum()), int(t["runs"].sum())
    out.append(Finding("{conv:int} of {total:int} runs met the convergence criterion (loss change below {tol} "
                       "between epochs until the end); the others were still changing by more than that in their last epochs.",
                       {"conv": conv, "total": total, "tol": f"{res.values['config']['converge_tol']:g}"}))
    if t["diverged_runs"].sum():
        out.append(Finding("{n:int} runs diverged (non-finite loss) and are left out of the means.",
                           {"n": int(t["diverged_runs"].sum())}))
    return out


def bonus(res: Results) -> str:
    return (f"{len(res.values['config']['models'])} models and {len(res.values['config']['functions'])} functions "
            "are compared.")


def headline(res: Results) -> dict:
    t = res.tables["summary"]
    return by_row(t, ["function", "model"], ["final_loss_mean", "final_loss_median", "runs_at_mean", "converged_runs",
                                              "diverged_runs"]) | \
        {"runs": int(t["runs"].sum()), "runs_converged": int(t["converged_runs"].sum())}
