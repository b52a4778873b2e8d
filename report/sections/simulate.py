"""Report section. HW1-1 simulate: three MLPs of ~573 parameters fit two 1-D functions; several seeds each."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.simulate import Config, Result

from .. import plots
from ..claims import COMPARISON_RULE, best_of, over_seeds, pair
from ..format import fmt_estimate, seeds_named
from ..layers import FORMULAS, depth
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import SETTLE_BAND, SETTLE_RULE, STILL_FALLING, settled_epoch

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
        ("Task", f"regression of {', '.join(f'{f}(x) = {FORMULAS[f]}' for f in cfg.functions)} on x ∈ [−1, 1]"),
        ("Training data", f"{cfg.n_train} evenly spaced points; predictions drawn on {cfg.n_grid} points"),
        ("Models", ", ".join(f"{m} ({models.param_count_of(m):,} params)" for m in cfg.models)),
        ("Why these models", "the course's own example models, of nearly equal size (571 / 572 / 571 parameters). "
                             "Variants with one more 1→1 dense layer and its LeakyReLU in front (MLP-deep-r, "
                             "MLP-middle-r, MLP-shallow-r: 573 / 574 / 573) are selected with --set "
                             "simulate.models=... to compare: the table and the findings count, for every model, the "
                             "seeds that stay at the mean of the function"),
        ("Initialisation", "weights: He (Kaiming) normal for LeakyReLU. With PyTorch's default (weight variance "
                           "1/(3·fan_in)) the signal shrinks at every layer: the 8-layer models start with an output "
                           "that is almost constant in x, and some seeds never leave the mean of f1. He init keeps "
                           "the signal's scale through depth"),
        ("Biases", BIAS_TEXT[cfg.biases]),
        ("Loss, optimiser", f"MSE; Adam, lr {cfg.train.lr:g}, weight decay {cfg.train.weight_decay:g}, constant "
                            "learning rate"),
        ("Batch size, epochs", f"{cfg.train.batch_size}, {cfg.train.epochs:,} epochs (reshuffled every epoch)"),
        ("Seeds", f"{cfg.seeds} per model and function ({seeds_named(list(range(cfg.seeds)))}); bands show min–max "
                  "over seeds; the mean ± standard error (sd with n − 1, over √n) and the median are over the seeds "
                  "that neither diverged nor collapsed"),
        ("Comparisons", COMPARISON_RULE),
        ("Loss recorded", f"the full-batch MSE on the {cfg.n_train} training points at the end of every epoch (the "
                          "figures, the table and the convergence rule use it)"),
        ("Converged at", SETTLE_RULE),
        ("Collapsed seeds", f"a seed whose final MSE is at least {AT_MEAN:.0%} of the function's variance predicts "
                            "about a constant: it is counted in the table and left out of the means"),
    ]


BIAS_TEXT = {
    "default": "PyTorch's default draw, uniform in ±1/√fan_in: a first-layer unit's kink sits at x = −b/w, so the "
               "kinks start spread over the input range and every model can bend anywhere from the start. Zero "
               "biases (simulate.biases=zero) would start every model as f(cx) = c·f(x), two linear pieces joined "
               "at x = 0, and handicap the shallow model most: each of its 190 kinks must first be moved by its own "
               "bias",
    "zero": "zero (simulate.biases=zero): every model starts as f(cx) = c·f(x), two linear pieces joined at x = 0, and "
            "each kink must be moved by its own bias before it can bend anywhere else, which handicaps the shallow "
            "model's 190 kinks most; the default (simulate.biases=default) spreads them over the input range",
}
AT_MEAN = 0.9  # a run whose final MSE is at least this share of Var(f) on the training points predicts ~the mean


def summary(cfg: Config, res: Result) -> pd.DataFrame:
    """One row per function and model: final loss over the seeds, seeds at the mean, convergence, divergence."""
    rows = []
    for i, f in enumerate(cfg.functions):
        for j, arch in enumerate(cfg.models):
            loss = res.loss[i, j]
            final = loss[:, -1]
            variance = float(res.target_variance[i])
            collapsed = final >= AT_MEAN * variance
            diverged = res.diverged_epoch[i, j] > 0
            kept = np.where(collapsed | diverged, np.nan, final)
            epochs = [settled_epoch(run_loss) for run_loss, out in zip(loss, collapsed | diverged) if not out]
            done = [e for e in epochs if e is not None]
            spread = over_seeds(kept)
            rows.append({"function": f, "model": arch, "params": models.param_count_of(arch),
                         "final_losses": [float(v) for v in kept if np.isfinite(v)],
                         "final_loss_mean": spread.value,
                         "final_loss_median": float(np.nanmedian(kept)) if np.isfinite(kept).any() else math.nan,
                         "target_variance": variance, "runs_at_mean": int(collapsed.sum()),
                         "converged_runs": len(done), "runs": cfg.seeds, "kept_runs": len(epochs),
                         "diverged_runs": int(diverged.sum()),
                         "converged_epoch_median": float(np.median(done)) if done else math.nan})
    return pd.DataFrame(rows)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    fns, archs = cfg.functions, cfg.models
    grid = res.grid
    figs = []
    fig, axes = plots.new_figure(1, len(fns), height=2.8)
    for ax, f, truth in zip(axes, fns, res.truth):
        ax.plot(grid, truth, color="black", linewidth=1.2)
        ax.set(title=f"{f}(x) = {FORMULAS[f]}", xlabel="x", ylabel=f"{f}(x)")
    figs.append(FigureSpec("targets", "The target functions on [−1, 1].", fig))

    fig, axes = plots.new_figure(1, len(fns), height=3.8)
    for ax, f, losses in zip(axes, fns, res.loss):
        for color, arch, loss in zip(plots.COLORS, archs, losses):
            plots.band(ax, plots.epochs_axis(loss.shape[1]), loss,
                       f"{arch} ({models.param_count_of(arch):,})", color)
        ax.set(yscale="log", title=f"{f}: training loss", xlabel="epoch", ylabel="MSE (log)")
    plots.figure_legend(fig, axes[0])
    figs.append(FigureSpec("loss", f"Full-batch training loss at the end of each epoch, mean over {cfg.seeds} seeds "
                                   "with a min–max band; one panel per function.", fig))

    fig, axes = plots.new_figure(1, len(fns), height=3.8)
    for ax, f, truth, preds in zip(axes, fns, res.truth, res.pred):
        ax.plot(grid, truth, color="black", linewidth=2.2, alpha=0.35, label="ground truth")
        for color, arch, pred in zip(plots.COLORS, archs, preds):
            plots.band(ax, grid, pred, arch, color)
        ax.set(title=f"{f}: predictions", xlabel="x", ylabel="prediction")
    plots.figure_legend(fig, axes[0])
    figs.append(FigureSpec("predictions", "Predictions after training over the ground truth (mean over seeds, "
                                          "min–max band).", fig))
    return figs


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = summary(cfg, res)
    frame = pd.DataFrame({
        "function": t["function"], "model": t["model"], "params": t["params"],
        "final loss (mean ± se)": [fmt_estimate(over_seeds(v)) if v else "–" for v in t["final_losses"]],
        "final loss (median)": [f"{v:.3g}" for v in t["final_loss_median"]],
        "seeds at the mean": [f"{a}/{n}" for a, n in zip(t["runs_at_mean"], t["runs"])],
        "converged at epoch (median)": [f"{e:,.0f}" if c else "still falling" for e, c in
                                        zip(t["converged_epoch_median"], t["converged_runs"])],
        "runs converged": [f"{c}/{n}" for c, n in zip(t["converged_runs"], t["kept_runs"])],
        "runs diverged": t["diverged_runs"],
    })
    return [TableSpec("summary", f"Final training loss (full batch) and convergence epoch per function and model; the "
                                 f"mean ± standard error (sd / √n over the seeds, what the findings compare) leaves out the seeds at the mean: those whose final MSE is at least "
                                 f"{AT_MEAN:.0%} of the function's variance on the training points (they predict about "
                                 f"a constant).", frame)]


def findings(cfg: Config, res: Result) -> list[Finding]:
    t = summary(cfg, res)
    archs = cfg.models
    depths = {m: depth(m) for m in archs}
    deepest = [m for m in archs if depths[m] == max(depths.values())]
    out = []
    for f, rows in t.groupby("function", sort=False):
        rows = rows[[len(v) > 0 for v in rows["final_losses"]]]
        if len(rows) < 2:
            continue
        out.append(lowest_loss(str(f), rows, depths, deepest))
    means = t.groupby("function", sort=False)["final_loss_mean"].mean()
    if len(means) >= 2 and means.notna().all():
        hard, easy = str(means.idxmax()), str(means.idxmin())
        by = {(r["function"], r["model"]): over_seeds(r["final_losses"]) for _, r in t.iterrows() if r["final_losses"]}
        claims = [pair(f"final training loss of {m}", (hard, easy), by[hard, m], by[easy, m])
                  for m in archs if (hard, m) in by and (easy, m) in by]
        clear = [c.quantity.removeprefix("final training loss of ") for c in claims if c.relation == ">"]
        if not clear:
            text = ("Model by model, the final losses on {hard} and {easy} are indistinguishable at this scale (the "
                    "seeds' spread covers the difference; averaged over the models {hard}'s is {ratio:ratio} {easy}'s).")
        else:
            text = ("{hard} ended with a higher final loss than {easy} for {k:int} of {m:int} models, clear of the "
                    "seeds' spread" + (" ({which})" if len(clear) < len(claims) else "") +
                    "; averaged over the models, {ratio:ratio} {easy}'s.")
        out.append(Finding("harder-function", text,
                           {"hard": hard, "easy": easy, "ratio": means[hard] / means[easy], "k": len(clear),
                            "m": len(claims), "which": ", ".join(clear)}, claims))
    for _, r in t[(t["runs_at_mean"] > 0) | t["model"].str.endswith("-r")].iterrows():
        variant = " (the variant with a 1→1 input layer)" if r["model"].endswith("-r") else ""
        out.append(Finding(f"at-mean.{r['function']}.{r['model']}", "{n:int} of {runs:int} seeds of {model}{variant} stayed at the mean of {f}: final MSE at "
                           "least {share:pct} of its variance ({var:sig}).",
                           {"n": r["runs_at_mean"], "runs": r["runs"], "model": r["model"], "variant": variant,
                            "f": r["function"], "share": AT_MEAN, "var": r["target_variance"]}))
    conv, kept = int(t["converged_runs"].sum()), int(t["kept_runs"].sum())
    out.append(Finding("converged", "{conv:int} of the {kept:int} runs that neither diverged nor collapsed settled (their "
                       "smoothed full-batch loss stayed within {band:pct} of its final value from some epoch before "
                       "the last {tail:pct} of training); the others were still falling at the end.",
                       {"conv": conv, "kept": kept, "band": SETTLE_BAND, "tail": 1 - STILL_FALLING}))
    if t["diverged_runs"].sum():
        out.append(Finding("diverged", "{n:int} runs diverged (non-finite loss) and are left out of the means.",
                           {"n": int(t["diverged_runs"].sum())}))
    return out


def lowest_loss(f: str, rows: pd.DataFrame, depths: dict[str, int], deepest: list[str]) -> Finding:
    """Which model fitted f best, told apart from the others by the seeds' spread, and what that says of depth."""
    estimates = {r["model"]: over_seeds(r["final_losses"]) for _, r in rows.iterrows()}
    rank = best_of(f"final training loss on {f}", estimates, lowest=True)
    values = {"f": f, "best": rank.best, "best_layers": depths[rank.best], "best_loss": estimates[rank.best].value,
              "best_se": estimates[rank.best].error, "best_est": fmt_estimate(estimates[rank.best]), "deepest": " and ".join(deepest), "layers": max(depths.values()),
              "n": min(e.n for e in estimates.values())}
    text = ("On {f}, {best} ({best_layers:int} weight layers) reached the lowest mean final training loss ({best_est}, "
            "mean ± standard error over {n:int} " + ("seed" if values["n"] == 1 else "seeds") + ")")
    if rank.tied:
        values |= {"tied": " and ".join(f"{m} ({fmt_estimate(estimates[m])})" for m in rank.tied)}
        lone = any(estimates[m].n < 2 for m in [rank.best, *rank.tied])
        text += (", but it is indistinguishable at this scale from {tied} (" +
                 ("a model with one seed left has no spread to compare by" if lone else "Welch's t-test, p ≥ 0.05") + ")")
        if rank.clear:
            values["clear"] = " and ".join(f"{m} ({fmt_estimate(estimates[m])})" for m in rank.clear)
            text += " and clearly below {clear}"
        verdict = ("; so these seeds cannot say whether the deepest model ({deepest}) fits best"
                   if rank.best in deepest or any(m in deepest for m in rank.tied) else
                   "; the deepest model ({deepest}, {layers:int} weight layers) is not among the best, contrary to the "
                   "homework's expectation")
    else:
        values["clear"] = " and ".join(f"{m} ({fmt_estimate(estimates[m])})" for m in rank.clear)
        text += ", clearly below {clear} (Welch's t-test, p < 0.05)"
        verdict = ("; the deepest model fitted best, as the homework expects of depth" if rank.best in deepest else
                   "; contrary to the homework's expectation that the deepest model ({deepest}, {layers:int} weight "
                   "layers) fits best")
    return Finding(f"lowest-loss.{f}", text + verdict + ".", values, rank.claims)


def bonus(cfg: Config, res: Result) -> str:
    return f"{len(cfg.models)} models and {len(cfg.functions)} functions are compared."
