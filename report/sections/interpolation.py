"""Report section. HW1-3 flatness part 1: the loss along the line between two trained models,
θ(α) = (1−α)·θ₁ + α·θ₂."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw1core import models
from hw1core.experiments.interpolation import Config, Lines, Result

from .. import plots
from ..claims import Claim, exact, over_seeds, pair, paired
from ..format import fmt_estimate, fmt_number, seeds_named, sweep_schedule_text
from ..outputs import FigureSpec, Finding, Question, TableSpec
from ..training import FAILED_RULE, failed_to_train, run_state

TITLE = "Flatness vs generalisation, part 1: interpolation"
PART = "HW1-3 Generalisation"

QUESTIONS = [
    Question("Describe the settings: task and training approaches", "0.5", ["setup"]),
    Question("Training and test loss and accuracy against α", "1", ["fig:batch", "fig:lr", "table:ends"]),
    Question("Comment on the results", "1", ["findings"]),
]
FIGURES = ("batch", "lr")
TABLES = ("ends",)


def architectures(cfg: Config) -> list[str]:
    return [cfg.model]


def plural(n: int, word: str = "seed") -> str:
    return word if n == 1 else word + "s"


def setup(cfg: Config) -> list[tuple[str, str]]:
    tc = cfg.train
    n = cfg.seeds
    return [
        ("Task", f"CIFAR-10 with {cfg.model} ({models.param_count_of(cfg.model):,} params); training images: "
                 f"{'all 50,000' if not cfg.data.n_train else f'{cfg.data.n_train:,}'}"),
        ("Pair 1", f"batch {cfg.batches[0]} vs batch {cfg.batches[1]}, both Adam lr {tc.lr:g} (the common learning "
                   f"rate), {tc.epochs} epochs"),
        ("Pair 2", f"lr {cfg.lrs[0]:g} vs lr {cfg.lrs[1]:g}, both batch {tc.batch_size} (the common batch size), "
                   f"{tc.epochs} epochs"),
        ("Common", f"Adam, weight decay {tc.weight_decay:g}, {sweep_schedule_text(tc)}, augmentation as in actual-task"),
        ("Seeds", f"{n} ({seeds_named(list(range(n)))}): per pair and seed two models and the line through them; "
                  f"both models of a pair share the seed's initialisation. The figures show the mean over the seeds "
                  f"that trained with a min–max band; the findings count seeds"),
        ("Failed runs", f"{FAILED_RULE}; here a seed with an end that failed to train is marked in the ends table and "
                        f"left out of the figures' bands and of every finding's counts"),
        ("Interpolation", f"θ(α) = (1−α)·θ₁ + α·θ₂ for {cfg.n_alpha} values of α in [{cfg.alpha_min:g}, "
                          f"{cfg.alpha_max:g}]; every θ(α) evaluated in evaluation mode with no optimiser step, all α "
                          f"at once as one stacked model; training metrics on "
                          f"{min(cfg.n_eval_train, cfg.data.n_train or 50_000):,} unaugmented training images"),
    ]


def lines(res: Result) -> dict[str, Lines]:
    """The two interpolated pairs by name: 'batch' (cfg.batches) and 'lr' (cfg.lrs), one line per seed."""
    return {"batch": res.batch, "lr": res.lr}


def failed_ends(lines: Lines) -> np.ndarray:
    """Per seed and end (seed × end), whether that trained model failed to train (FAILED_RULE, on its final training
    loss and accuracy)."""
    return np.array([[failed_to_train(float(loss), float(acc)) for loss, acc in zip(losses, accs)]
                     for losses, accs in zip(lines.end_train_loss, lines.end_train_acc)], dtype=bool).reshape(-1, 2)


def trained_seeds(lines: Lines) -> np.ndarray:
    """Per seed, whether both of its models trained: only such a seed's line says anything about two minima."""
    return np.asarray(~failed_ends(lines).any(axis=1))


def pair_labels(cfg: Config) -> dict[str, tuple[str, str]]:
    """How the two models of each pair are named: 'batch 64', 'lr 0.01'."""
    return {"batch": (f"batch {cfg.batches[0]}", f"batch {cfg.batches[1]}"),
            "lr": (f"lr {cfg.lrs[0]:g}", f"lr {cfg.lrs[1]:g}")}


def seeds_caption(keep: np.ndarray) -> str:
    """Over which seeds a figure's curves are taken, and which it leaves out."""
    n, kept = len(keep), [int(s) for s in np.flatnonzero(keep)]
    failed = seeds_named([int(s) for s in np.flatnonzero(~keep)]) if len(kept) < n else ""
    left_out = f" ({failed} failed to train and {'is' if (~keep).sum() == 1 else 'are'} left out)"
    if not kept:
        return f"no seed of {n} trained, so nothing is plotted"
    if len(kept) == 1:
        return f"one seed ({seeds_named(kept)})" + (f" of {n}" + left_out if n > 1 else "")
    over = f"mean over {n} seeds" if len(kept) == n else f"mean over the {len(kept)} of {n} seeds that trained"
    return over + ", shaded: min–max over them" + (left_out if len(kept) < n else "")


def pair_figure(lines: Lines, name: str, labels: tuple[str, str]) -> FigureSpec:
    l1, l2 = labels
    keep = trained_seeds(lines)
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    right = ax.twinx()
    if keep.any():
        plots.band(ax, lines.alpha, lines.train_loss[keep], "train loss", plots.COLORS[0])
        plots.band(ax, lines.alpha, lines.test_loss[keep], "test loss", plots.COLORS[0], "--")
        plots.band(right, lines.alpha, lines.train_acc[keep], "train accuracy", plots.COLORS[1])
        plots.band(right, lines.alpha, lines.test_acc[keep], "test accuracy", plots.COLORS[1], "--")
        ax.set_yscale("log")
        plots.twin_legend(ax, right)
    else:
        ax.text(0.5, 0.5, "no seed trained", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlim(lines.alpha[0], lines.alpha[-1])
    for x in (0, 1):
        ax.axvline(x, color="grey", linewidth=0.6, linestyle=":")
    ax.set(xlabel=f"α   (0: {l1}, 1: {l2})", title=f"Interpolating {l1} → {l2}")
    ax.set_ylabel("cross-entropy (log)", color=plots.COLORS[0])
    right.set_ylabel("accuracy", color=plots.COLORS[1])
    right.set_ylim(0, 1)
    return FigureSpec(name, f"Cross-entropy (log, left axis) and accuracy (right axis) of θ(α) between {l1} (α = 0) and "
                            f"{l2} (α = 1), {seeds_caption(keep)}; training solid, test dashed.", fig)


def figures(cfg: Config, res: Result) -> list[FigureSpec]:
    labels = pair_labels(cfg)
    return [pair_figure(line, name, labels[name]) for name, line in lines(res).items()]


def ends(cfg: Config, res: Result) -> pd.DataFrame:
    """One row per pair, seed and trained end point: its model label, final metrics and whether it failed to train."""
    labels = pair_labels(cfg)
    rows = []
    for name, line in lines(res).items():
        failed = failed_ends(line)
        for seed in range(len(line.end_train_loss)):
            rows += [{"pair": name, "seed": seed, "model": labels[name][i],
                      "train_loss": float(line.end_train_loss[seed, i]), "test_loss": float(line.end_test_loss[seed, i]),
                      "train_acc": float(line.end_train_acc[seed, i]), "test_acc": float(line.end_test_acc[seed, i]),
                      "weight_norm": float(line.end_weight_norm[seed, i]), "failed": bool(failed[seed, i])} for i in range(2)]
    return pd.DataFrame(rows)


def tables(cfg: Config, res: Result) -> list[TableSpec]:
    t = ends(cfg, res)
    frame = pd.DataFrame({"pair": t["pair"], "seed": t["seed"], "model": t["model"],
                          "state": [run_state(0, f) for f in t["failed"]], "train loss": t["train_loss"],
                          "test loss": t["test_loss"], "train acc": [f"{v:.1%}" for v in t["train_acc"]],
                          "test acc": [f"{v:.1%}" for v in t["test_acc"]], "weight norm ‖θ‖": t["weight_norm"]})
    return [TableSpec("ends", "The trained end points (α = 0 and α = 1) of every pair and seed. A seed with an end "
                              "that failed to train is left out of the figures and of the findings' counts.", frame)]


def barrier_height(alpha: np.ndarray, loss: np.ndarray) -> float:
    """Highest loss strictly between the two models (0.05 < α < 0.95) above the worse of the two ends; positive means
    a barrier; NaN when the grid has no point in between."""
    mid = (alpha > 0.05) & (alpha < 0.95)
    if not mid.any():
        return float("nan")
    ends_loss = max(loss[np.argmin(abs(alpha))], loss[np.argmin(abs(alpha - 1))])
    return float(np.nanmax(loss[mid]) - ends_loss)


def end_curvature(alpha: np.ndarray, loss: np.ndarray, at: float) -> float:
    """Mean rise of the loss at the grid points on either side of α = at: how sharp the basin is there."""
    i = int(np.argmin(np.abs(alpha - at)))
    sides = [loss[j] for j in (i - 1, i + 1) if 0 <= j < len(loss)]
    return float(np.mean(sides) - loss[i])


def change(key: str, value: float) -> tuple[str, dict[str, float]]:
    """The loss change one grid step from an end in words: 'rises by {s<key>:sig}' quotes the signed rise itself,
    'falls by {f<key>:sig}' the drop (never a negative rise)."""
    if value > 0:
        return "rises by {s%s:sig}" % key, {f"s{key}": value}
    return "falls by {f%s:sig}" % key, {f"s{key}": value, f"f{key}": -value}


def span(key: str, values: list[float], kind: str = "sig") -> tuple[str, dict[str, float]]:
    """A quantity over seeds as a template fragment, '{key_lo:sig} to {key_hi:sig}', or one number where every seed
    prints the same; with the values it quotes."""
    lo, hi = float(np.min(values)), float(np.max(values))
    text = "{%s_lo:%s}" % (key, kind) + ("" if fmt_number(lo, kind) == fmt_number(hi, kind) else
                                        " to {%s_hi:%s}" % (key, kind))
    return text, {f"{key}_lo": lo, f"{key}_hi": hi}


def of_seeds(n: int, some_failed: bool) -> str:
    """The denominator of a count over seeds: 'of 3 seeds', or 'of the 2 seeds that trained' where some did not."""
    return f"of the {{n:int}} {plural(n)} that trained" if some_failed else f"of {{n:int}} {plural(n)}"


def failed_finding(name: str, labels: tuple[str, str], failed: np.ndarray) -> Finding:
    """Which seeds of a pair have an end that failed to train, and what that leaves for the other findings."""
    bad = [int(s) for s in np.flatnonzero(failed.any(axis=1))]
    which = "; ".join(f"seed {s}: " + " and ".join(labels[i] for i in (0, 1) if failed[s, i]) for s in bad)
    rest = ("so no seed is left: the figure is empty and the line is not analysed" if len(bad) == len(failed) else
            ("it is" if len(bad) == 1 else "they are") + " left out of the figure and of the counts in the findings "
            "on this pair")
    return Finding(f"failed.{name}", "{l1} → {l2}: {k:int} of {n:int} " + plural(len(failed)) + " " +
                   ("has" if len(bad) == 1 else "have") + " an end that failed to train ({which}); " + rest + ".",
                   {"l1": labels[0], "l2": labels[1], "k": len(bad), "n": len(failed), "which": which})


def lowest_text(alpha: np.ndarray, loss: np.ndarray) -> tuple[str, dict[str, float]]:
    """Where along the line (rows: seeds) the training loss is lowest, as a sentence; empty when no row is finite."""
    rows = [row for row in loss if np.isfinite(row).any()]
    if not rows:
        return "", {}
    a, va = span("a", [float(alpha[np.nanargmin(row)]) for row in rows])
    lo, vlo = span("lo", [float(np.nanmin(row)) for row in rows])
    varies = " to " in a + lo
    return (" Along the line the training loss has its minimum at α = " + a + " (loss " + lo + ")" +
            (", depending on the seed." if varies else "."), {**va, **vlo})


def barrier_finding(name: str, labels: tuple[str, str], alpha: np.ndarray, loss: np.ndarray, seeds: list[int],
                    some_failed: bool) -> Finding:
    """Per seed (rows of `loss`) whether the training loss rises above the worse end between the two models, counted
    over the seeds."""
    values: dict = {"l1": labels[0], "l2": labels[1]}
    if not ((alpha > 0.05) & (alpha < 0.95)).any():
        return Finding(f"barrier.{name}", "{l1} → {l2}: the α grid has no point strictly between the two models "
                       "(0.05 < α < 0.95), so it cannot show a barrier.", values)
    heights = np.array([barrier_height(alpha, row) for row in loss])
    up, flat, none = heights > 0, heights <= 0, np.isnan(heights)
    n, kb, kn, u = len(heights), int(up.sum()), int(flat.sum()), int(none.sum())
    values |= {"n": n, "kb": kb, "kn": kn, "u": u}
    named = lambda mask: seeds_named([s for s, m in zip(seeds, mask) if m])
    parts = []
    if kb:
        b, vb = span("b", list(heights[up]))
        values |= vb
        which = named(up) + "; " if kb < n else ""
        parts.append("a barrier between the two models in {kb:int} " + of_seeds(n, some_failed) + " (" + which +
                     "height " + b + " above the worse end)")
    if kn:
        which = named(flat) + "; " if kn < n else ""
        parts.append(("none" if kb else "no barrier between the two models") + " in {kn:int}" +
                     ("" if kb else " " + of_seeds(n, some_failed)) + " (" + which +
                     "the loss between them stays at or below the worse end)")
    if u:
        parts.append("in {u:int} " + ("" if parts else of_seeds(n, some_failed) + " ") + "(" + named(none) + ") the loss between the models is not finite, so " +
                     ("it shows" if u == 1 else "they show") + " neither")
    measured = " that " + " and ".join((["trained"] if some_failed else []) + (["gives a value"] if u else []))
    measured = measured if some_failed or u else ""
    if kb and kn:
        verdict = "the two minima lie in different basins in some seeds and are linearly connected in others"
    elif kb:
        verdict = "the two minima lie in different basins in every seed" + measured
    elif kn:
        verdict = "the two minima are linearly connected in every seed" + measured
    else:
        verdict = "no seed shows whether the two minima are connected"
    low, vlow = lowest_text(alpha, loss)
    claims, measured_text = [], ""
    found = heights[np.isfinite(heights)]
    if len(found):  # the barrier's height against none, over the seeds: a one-sample t-test
        height = over_seeds(found)
        claims = [pair("barrier height", (f"{labels[0]} → {labels[1]}", "none"), height, exact(0.0))]
        values |= {"h": fmt_estimate(height), "hp": claims[0].uncertainty["p"]}
        if len(found) == 1:
            measured_text = " With one seed the height has no spread to be judged against."
        else:
            # Over several seeds the verdict is the height's, not the seeds' count.
            verdict = {">": "the two minima lie in different basins",
                       "<": "the two minima are linearly connected"}.get(
                claims[0].relation, "these seeds cannot tell whether a barrier separates the two minima")
            measured_text = (" Over the seeds the height is {h}, " +
                             {">": "clear of zero", "<": "clearly negative (the loss between the ends stays under the "
                                                         "worse end)"}.get(
                                 claims[0].relation, "indistinguishable from no barrier at this scale") +
                             " (t-test, p = {hp:sig}).")
    return Finding(f"barrier.{name}", "{l1} → {l2}: " + ", ".join(parts) + "; so " + verdict + "." + measured_text +
                   low, values | vlow, claims)


def curvature_finding(name: str, labels: tuple[str, str], loss: np.ndarray, line: Lines, keep: np.ndarray,
                      seeds: list[int], some_failed: bool, large: int | None) -> Finding:
    """Per seed (rows of `loss`) which end sits in the sharper basin along the line, counted over the seeds; a seed
    where an end is not at a minimum along the line gives no comparison. `large`: the end trained with the larger
    batch, where Keskar et al. (2017) expect the sharper minimum (None: no such expectation for this pair)."""
    l1, l2 = labels
    alpha = line.alpha
    rise = np.array([[end_curvature(alpha, row, 0.0), end_curvature(alpha, row, 1.0)] for row in loss])
    step, norm = relative_step(alpha, line)[keep], line.end_weight_norm[keep]  # n_alpha ≥ 3: a step exists
    compares = (rise > 0).all(axis=1)  # NaN compares as False: no comparison
    sharper = [np.sum(compares & (rise[:, i] > rise[:, 1 - i])) for i in (0, 1)]
    n, c, ties, u = len(rise), int(compares.sum()), int(compares.sum() - sum(sharper)), int((~compares).sum())
    values: dict = {"l1": l1, "l2": l2, "n": n, "c": c, "k0": int(sharper[0]), "k1": int(sharper[1]), "t": ties,
                    "u": u}
    claims = []
    if c:  # the two ends' rises paired by seed (both ends of a line share its seed): a paired t-test
        e0, e1 = over_seeds(rise[compares, 0]), over_seeds(rise[compares, 1])
        claims = [paired("loss rise one grid step from the end", (l1, l2), rise[compares, 0], rise[compares, 1])]
        values |= {"m0": fmt_estimate(e0), "m1": fmt_estimate(e1), "mp": claims[0].uncertainty["p"]}
    clear = bool(claims) and claims[0].relation != "≈"  # one seed, or seeds inside their spread, back no literature
    note = ""
    if large is not None and clear and sharper[large] == c:
        note = ", as Keskar et al. (2017) report for large batches"
    elif large is not None and clear and sharper[1 - large] == c:
        note = ", contrary to Keskar et al.'s (2017) large-batch finding"
    clauses: list[str] = []
    for i in (1, 0) if large is None else (large, 1 - large):
        if sharper[i]:
            first = not clauses
            clauses.append("in {k%d:int} " % i + (of_seeds(n, some_failed) + " " if first else "") + "the " +
                           labels[i] + " end" + (" sits in the sharper basin" + note if first else ""))
    if ties:
        clauses.append("in {t:int} both ends are equally sharp")
    if u:
        clauses.append("in {u:int} " + (of_seeds(n, some_failed) + " " if not clauses else "") +
                       "an end is not at a minimum along the line, so " +
                       ("that seed gives" if u == 1 else "those seeds give") + " no comparison")
    text = "{l1} → {l2}: " + ", ".join(clauses[:-1]) + (", and " if len(clauses) > 1 else "") + clauses[-1] + "."
    if c == 1:
        text += " With one seed the two ends' curvatures have no spread to be judged against."
    elif claims:
        text += (" The mean rises, {m0} ({l1}) and {m1} ({l2}), are " +
                 ("clearly different" if clear else "indistinguishable at this scale") + " (paired t-test over the seeds, "
                 "p = {mp:sig}).")
    if c:
        r0, v0 = span("r0", list(rise[compares, 0]))
        r1, v1 = span("r1", list(rise[compares, 1]))
        values |= v0 | v1
        text += (" In the {c:int} " + plural(c) + " that " + ("gives" if c == 1 else "give") + " a comparison the "
                 "training loss rises by " + r0 + " ({l1}) and " + r1 + " ({l2}) one grid step away from the ends.")
    for s, (s0, s1) in zip(seeds, rise):
        if s0 > 0 and s1 > 0:
            continue
        (c0, v0), (c1, v1) = change(f"0_{s}", s0), change(f"1_{s}", s1)
        where = " and ".join(lab for lab, v in ((l1, s0), (l2, s1)) if not v > 0)
        values |= v0 | v1 | {f"where_{s}": where}
        text += (f" In seed {s}, one grid step away from the ends the training loss " + c0 + " ({l1}) and " + c1 +
                 " ({l2}): {where_%d} is not at a minimum along this line, so seed %d gives no sharpness comparison."
                 % (s, s))
    if c:
        scaled_text, scaled_values, scaled_claims = scaled_curvature(labels, rise[compares], step[compares],
                                                                           norm[compares], claims[0])
        text, values, claims = text + scaled_text, values | scaled_values, claims + scaled_claims
    return Finding(f"end-curvature.{name}", text, values, claims)


def relative_step(alpha: np.ndarray, line: Lines) -> np.ndarray:
    """Per seed and end, how far one grid step of α moves the weights as a share of that end's weight norm."""
    return (alpha[1] - alpha[0]) * line.distance[:, None] / line.end_weight_norm


def scaled_curvature(labels: tuple[str, str], rise: np.ndarray, step: np.ndarray, norm: np.ndarray,
                     raw: Claim) -> tuple[str, dict, list]:
    """The two ends' rises read at each end's own scale: the same step along the line is a smaller change to weights
    that are larger, so a raw rise compares the ends' scales as well as their basins. The rise over the squared
    relative step removes the whole-network scale; these networks have biases and no normalisation layers, so no
    single scale makes the comparison exact, and a reversal is reported as a hypothesis, not a finding."""
    l1, l2 = labels
    scaled = rise / step ** 2
    e0, e1 = over_seeds(scaled[:, 0]), over_seeds(scaled[:, 1])
    claim = paired("loss rise per squared relative step from the end", labels, scaled[:, 0], scaled[:, 1])
    q0, v0 = span("q0", list(100 * step[:, 0]))
    q1, v1 = span("q1", list(100 * step[:, 1]))
    verdict = ({">": "the {l1} end is the sharper one at its own scale",
                "<": "the {l2} end is the sharper one at its own scale"}.get(claim.relation) or
               ("one seed gives no spread to judge the difference by" if len(rise) == 1 else
                "the two are indistinguishable at this scale (paired t-test, p = {qp:sig})"))
    if raw.relation != "≈" and claim.relation != raw.relation:
        verdict += (", so the raw difference may follow the ends' scales rather than their basins (a hypothesis: "
                    "without normalisation layers no single scale makes the comparison exact)")
    text = (" The ends' weights differ in scale: weight norm {w0} at the {l1} end against {w1} at the {l2} end. One grid "
            "step is " + q0 + " % of the first end's norm and " + q1 + " % of the second's; divided by the square of "
            "that share, the rises are {n0} at the {l1} end and {n1} at the {l2} end: " + verdict + ".")
    values = v0 | v1 | {"w0": fmt_estimate(over_seeds(norm[:, 0])), "w1": fmt_estimate(over_seeds(norm[:, 1])),
                        "n0": fmt_estimate(e0), "n1": fmt_estimate(e1), "qp": claim.uncertainty["p"]}
    return text, values, [claim]


def gap_finding(name: str, labels: tuple[str, str], line: Lines, keep: np.ndarray) -> Finding:
    """Which end generalises better: the two ends' generalisation gaps (test − training loss), paired by seed."""
    gaps = (line.end_test_loss - line.end_train_loss)[keep]
    e0, e1 = over_seeds(gaps[:, 0]), over_seeds(gaps[:, 1])
    claim = paired("generalisation gap (test − training loss)", labels, gaps[:, 0], gaps[:, 1])
    says = {">": "the {l2} end has the smaller gap", "<": "the {l1} end has the smaller gap"}.get(
        claim.relation, "the two gaps are indistinguishable at this scale" if len(gaps) > 1 else
        "one seed gives no spread to judge the difference by")
    return Finding(f"end-gap.{name}", "{l1} → {l2}: the generalisation gap (test − training loss) is {g0} at the {l1} "
                   "end and {g1} at the {l2} end (over {n:int} " + plural(len(gaps)) + "; paired by seed): " + says +
                   ".", {"l1": labels[0], "l2": labels[1], "g0": fmt_estimate(e0), "g1": fmt_estimate(e1),
                         "n": len(gaps)}, [claim])


def large_batch_end(cfg: Config, name: str) -> int | None:
    """Which end of a pair trained with the larger batch: Keskar et al.'s (2017) claim is about that one; None for the
    learning-rate pair (same batch) or two equal batches."""
    if name != "batch" or cfg.batches[0] == cfg.batches[1]:
        return None
    return int(np.argmax(cfg.batches))


def findings(cfg: Config, res: Result) -> list[Finding]:
    out = []
    labels = pair_labels(cfg)
    for name, line in lines(res).items():
        keep = trained_seeds(line)
        some_failed = not keep.all()
        if some_failed:
            out.append(failed_finding(name, labels[name], failed_ends(line)))
        if not keep.any():
            continue
        seeds, train = [int(s) for s in np.flatnonzero(keep)], line.train_loss[keep]
        out.append(barrier_finding(name, labels[name], line.alpha, train, seeds, some_failed))
        out.append(curvature_finding(name, labels[name], train, line, keep, seeds, some_failed,
                                     large_batch_end(cfg, name)))
        out.append(gap_finding(name, labels[name], line, keep))
    return out
