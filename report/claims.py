"""One rule for every comparison the report states, and the claims as data.

A finding that calls one thing higher, lower, rising or falling says so only where the difference is clear of its
uncertainty: the spread over seeds where there are several, the sampling error over test examples where there is
one run, and a rank correlation's n and p-value for a trend. Otherwise it calls the two indistinguishable at this
scale. Each such comparison is a `Claim`, written to out/summary.json, so that two builds can be compared:

    python -m report.claims DRAFT.json FULL.json

prints the claims both builds make: which agree, which contradict (opposite directions), and where the draft says less
(cannot tell what the full build finds) or more (states what the full build cannot tell from noise); it exits 1 if any
contradict.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

LEVEL = 0.05  # a difference or a trend is clear when its two-sided p-value is below this
COMPARISON_RULE = (f"a difference is stated only where its two-sided p-value is below {LEVEL:g}: Welch's t-test over "
                   f"the seeds where there are several, a z-test on the binomial sampling error of an accuracy over "
                   f"the test images where there is one run, Spearman's ρ with its n and p-value for a trend; "
                   f"otherwise the two are called indistinguishable at this scale. ± is one standard error")

RELATIONS = (">", "<", "≈", "rising", "falling", "no trend")
OPPOSITE = {">": "<", "<": ">", "rising": "falling", "falling": "rising"}


@dataclass(frozen=True)
class Estimate:
    """A measured value, its standard error and what the error comes from (`n` seeds, or `n` test examples)."""
    value: float
    error: float
    n: int
    basis: str  # what the error comes from: "seeds", "test examples", "grid points", or "exact" (no error)

    def __str__(self) -> str:
        return f"{self.value:.3g} ± {self.error:.2g}" if math.isfinite(self.error) else f"{self.value:.3g} (n = {self.n})"


def over_seeds(values: Iterable[float], basis: str = "seeds") -> Estimate:
    """The mean over the finite values of seeds (or other draws of one kind, named by `basis`) and its standard error
    (sd / √n; NaN for one draw, which has no spread)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    error = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return Estimate(float(v.mean()) if len(v) else math.nan, error, len(v), basis)


def exact(value: float) -> Estimate:
    """A value with no error to speak of: chance, a threshold, or two points of one surface on the same images."""
    return Estimate(float(value), 0.0, 1, "exact")


def accuracy(acc: float, n_examples: int) -> Estimate:
    """One run's accuracy over n test examples, with its binomial standard error √(p(1−p)/n)."""
    return Estimate(float(acc), math.sqrt(max(acc * (1 - acc), 0.0) / n_examples), int(n_examples), "test examples")


def difference_p(a: Estimate, b: Estimate) -> float:
    """Two-sided p-value of a − b. Where the errors come from a few draws (seeds, epochs, grid points), Welch's t-test,
    which against an exact value (error 0) is the one-sample t-test; where an error is the sampling error over test
    examples, a z-test. NaN where a value is not finite or a side has no error to judge by (one seed)."""
    if not (math.isfinite(a.value) and math.isfinite(b.value)):
        return math.nan
    se = math.hypot(a.error, b.error)
    if not math.isfinite(se):
        return math.nan
    if se == 0:
        return 0.0 if a.value != b.value else 1.0
    t = (a.value - b.value) / se
    drawn = [e for e in (a, b) if e.error > 0]
    if all(e.basis != "test examples" and e.n > 1 for e in drawn):
        df = se ** 4 / sum(e.error ** 4 / (e.n - 1) for e in drawn)  # Welch–Satterthwaite
        return float(2 * stats.t.sf(abs(t), df))
    return float(2 * stats.norm.sf(abs(t)))


def compare(a: Estimate, b: Estimate) -> str:
    """'>' or '<' where a − b is clear of its uncertainty (p < LEVEL), else '≈'."""
    p = difference_p(a, b)
    if not p < LEVEL:
        return "≈"
    return ">" if a.value > b.value else "<"


@dataclass(frozen=True)
class Trend:
    """A Spearman rank correlation with its number of points and two-sided p-value."""
    rho: float
    p: float
    n: int

    @property
    def relation(self) -> str:
        if not self.p < LEVEL:
            return "no trend"
        return "rising" if self.rho > 0 else "falling"


def trend_words(t: Trend) -> str:
    """How a quantity moves, in words: 'rises', 'falls' or 'shows no clear trend' (p ≥ LEVEL, or too few points)."""
    return {"rising": "rises", "falling": "falls"}.get(t.relation, "shows no clear trend")


EXACT_UP_TO = 8  # points up to which a trend's p-value is exact (all n! pairings); above, scipy's t approximation


def rank_correlation(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's ρ of each row of x with y (the Pearson correlation of their ranks, ties averaged)."""
    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y)
    rx, ry = rx - rx.mean(axis=axis, keepdims=True), ry - ry.mean()
    return (rx * ry).sum(axis=axis) / np.sqrt((rx ** 2).sum(axis=axis) * (ry ** 2).sum())


def trend(x: Sequence[float], y: Sequence[float]) -> Trend:
    """How y moves with x: Spearman's ρ over the finite points (every seed a point of its own), with its two-sided
    p-value; fewer than 3 points, or a constant side, give no trend. scipy's p-value for ρ is an approximation that
    calls 4 points in order p = 0 where their exact p is 2/4! = 0.083, so small samples get the exact one."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if len(xs) < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return Trend(math.nan, math.nan, int(len(xs)))
    if len(xs) <= EXACT_UP_TO:
        r = stats.permutation_test((xs,), lambda a, axis=-1: rank_correlation(a, ys, axis), vectorized=True,
                                   permutation_type="pairings", n_resamples=math.inf)
        return Trend(float(r.statistic), float(r.pvalue), int(len(xs)))
    r = stats.spearmanr(xs, ys)
    return Trend(float(r.statistic), float(r.pvalue), int(len(xs)))


@dataclass(frozen=True)
class Claim:
    """One comparison a finding states: what is compared (subjects, the quantity), the relation the rule found, the
    values and their uncertainty. `key` names the comparison independently of its outcome, so that two builds'
    claims about the same subjects meet under one id."""
    quantity: str
    subjects: tuple[str, ...]
    relation: str
    values: dict[str, float] = field(default_factory=dict)
    uncertainty: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.quantity}:{'~'.join(sorted(self.subjects))}"


def pair(quantity: str, names: tuple[str, str], a: Estimate, b: Estimate) -> Claim:
    """The claim comparing a (named names[0]) with b: its relation by `compare`."""
    p = difference_p(a, b)
    return Claim(quantity, names, compare(a, b), {names[0]: a.value, names[1]: b.value},
                 {"basis": a.basis if a.basis == b.basis else f"{a.basis}, {b.basis}",
                  f"se {names[0]}": a.error, f"se {names[1]}": b.error, "n": min(a.n, b.n), "p": p})


def paired(quantity: str, names: tuple[str, str], a: Iterable[float], b: Iterable[float],
           basis: str = "seeds", draws: int | None = None) -> Claim:
    """The claim comparing two measurements taken in pairs (the two ends of one seed's line, two counts of one run):
    the paired t-test, on the mean of a − b against 0. `draws` counts the independent draws behind the pairs where
    that is fewer than the pairs (pairs of runs share their runs)."""
    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    d = over_seeds(a - b, basis)
    if draws is not None and d.n:
        d = Estimate(d.value, d.error * math.sqrt(d.n / draws), draws, basis)
    p = difference_p(d, exact(0.0))
    relation = "≈" if not p < LEVEL else ">" if d.value > 0 else "<"
    return Claim(quantity, names, relation, {names[0]: float(np.nanmean(a)), names[1]: float(np.nanmean(b)),
                                             "difference": d.value},
                 {"basis": f"paired over {basis}", "se of the difference": d.error, "n": d.n, "p": p})


def correlation(quantity: str, x_name: str, y_name: str, t: Trend) -> Claim:
    """The claim that `y_name` rises, falls or shows no trend with `x_name`."""
    return Claim(quantity, (y_name, x_name), t.relation, {"rho": t.rho},
                 {"basis": "Spearman rank correlation", "n": t.n, "p": t.p})


@dataclass(frozen=True)
class Ranking:
    """Which of several measured subjects is highest (or lowest), judged against every other one."""
    best: str
    clear: list[str]  # the subjects the best is clearly ahead of
    tied: list[str]  # the subjects it cannot be told apart from
    claims: list[Claim]


def best_of(quantity: str, estimates: dict[str, Estimate], lowest: bool = False) -> Ranking:
    """The subject with the highest finite value (the lowest with `lowest`), and a claim comparing it with each other
    (the best is picked by its value, so its lead over the runner-up is somewhat favoured by the choice)."""
    finite = {k: e for k, e in estimates.items() if math.isfinite(e.value)}
    if not finite:
        raise ValueError(f"{quantity}: no finite value to rank")
    estimates = finite
    best = (min if lowest else max)(estimates, key=lambda k: estimates[k].value)
    claims = [pair(quantity, (best, other), estimates[best], estimates[other]) for other in estimates if other != best]
    tied = [c.subjects[1] for c in claims if c.relation == "≈"]
    return Ranking(best, [c.subjects[1] for c in claims if c.relation != "≈"], tied, claims)


def finite_or_none(value):
    """NaN and ±∞ as None (JSON has no NaN), inside dicts and lists too."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def claim_id(experiment: str, claim: Claim) -> str:
    """What a claim compares, independent of what it found and of which sentence states it: the same in two builds."""
    return f"{experiment}.{claim.key}"


def claim_record(experiment: str, finding: str, claim: Claim, sentence: str) -> dict:
    """A claim as out/summary.json gives it."""
    return {"id": claim_id(experiment, claim), "experiment": experiment, "finding": finding,
            **finite_or_none(asdict(claim)), "subjects": list(claim.subjects), "sentence": sentence}


# --- the check: does a draft contradict a full build? -------------------------------------------------------------


def load_claims(path: Path) -> dict[str, dict]:
    """The claims of a summary.json, by id."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"report.claims: cannot read {path}: {exc}") from None
    if not isinstance(summary, dict):
        raise SystemExit(f"report.claims: {path} is not a summary.json (no object at its top)")
    claims = summary.get("claims", [])
    return {c["id"]: c for c in claims if isinstance(c, dict) and "id" in c}


def canonical_relation(record: dict) -> str:
    """A claim's relation read with its subjects in sorted order (a > b is b < a; a trend reads the same either way),
    so two builds' claims compare."""
    subjects = record.get("subjects", [])
    relation = record.get("relation", "")
    if relation in (">", "<") and len(subjects) == 2 and list(subjects) != sorted(subjects):
        return OPPOSITE[relation]
    return relation


UNDECIDED = ("≈", "no trend")


def verdict(draft: dict, full: dict) -> str:
    """'agree' (the same relation), 'contradict' (opposite directions), 'says less' (the draft cannot tell what the
    full build finds: what a smaller sample should do) or 'says more' (the draft states a difference or trend the full
    build cannot tell from noise)."""
    ra, rb = canonical_relation(draft), canonical_relation(full)
    if ra == rb:
        return "agree"
    if OPPOSITE.get(ra) == rb:
        return "contradict"
    return "says less" if ra in UNDECIDED else "says more"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.claims",
                                     description="Compare the claims of two builds' summary.json (a draft against "
                                                 "a full build); exit 1 if any claim contradicts the other build's.")
    parser.add_argument("draft", type=Path)
    parser.add_argument("full", type=Path)
    args = parser.parse_args(argv)
    draft, full = load_claims(args.draft), load_claims(args.full)
    both = sorted(set(draft) & set(full))
    verdicts = {i: verdict(draft[i], full[i]) for i in both}
    print(f"{len(draft)} claims in {args.draft}, {len(full)} in {args.full}; {len(both)} in both")
    for kind in ("contradict", "says more", "says less", "agree"):
        ids = [i for i in both if verdicts[i] == kind]
        print(f"\n{kind}: {len(ids)}")
        for i in ids:
            print(f"  {i}: {canonical_relation(draft[i])} in the draft, {canonical_relation(full[i])} in the full build")
    for path, mine, other in ((args.draft, draft, full), (args.full, full, draft)):
        only = sorted(set(mine) - set(other))
        if only:
            print(f"\nonly in {path}: {len(only)}")
            for i in only:
                print(f"  {i}")
    return 1 if any(v == "contradict" for v in verdicts.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # its output piped into `head`: stop quietly, as any command-line tool does
        sys.stderr.close()
        sys.exit(1)
