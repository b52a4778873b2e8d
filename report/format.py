"""The one place where numbers become text, for findings, tables and the appendix alike."""
from __future__ import annotations

import math
import numbers
import re
import string

from hw1core.engine import TrainConfig

from .claims import Estimate
from .outputs import Finding


def fmt_number(value, kind: str | None = None) -> str:
    """count: 12,345 · sig: 3 significant digits · pct: 93.1% · ratio: 4.2× · int: 7; no kind: by type; any other
    kind is a format spec (".1f"). A value that rounds to zero is never written "-0"."""
    text = _fmt_number(value, kind)
    return text[1:] if re.fullmatch(r"-0(\.0*)?(%|×)?", text) else text


def _fmt_number(value, kind: str | None = None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str) or not isinstance(value, numbers.Real) or isinstance(value, bool):
        return str(value)
    value = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if kind is None:
        kind = "count" if isinstance(value, numbers.Integral) or float(value).is_integer() and abs(value) >= 1000 else "sig"
    if kind == "count":
        return f"{round(value):,}"
    if kind == "int":
        return f"{int(round(value))}"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "ratio":
        return f"{value:,.0f}×" if abs(value) >= 10 else f"{value:.2f}×"
    if kind == "sig":
        text = f"{value:.3g}"
        return text.replace("e-0", "e-").replace("e+0", "e") if "e" in text else text
    return format(value, kind)


def fmt_estimate(e: Estimate, kind: str = "sig") -> str:
    """A value with its standard error: '98.8 ± 0.1%' for pct, '0.0201 ± 0.0013' otherwise, '0.0201 (n = 1)' where
    one draw gives no error."""
    if not math.isfinite(e.error):  # one draw: no spread to give
        return f"{fmt_number(e.value, kind)} (n = {e.n})"
    if kind == "pct":
        return f"{100 * e.value:.1f} ± {100 * e.error:.1f}%"
    return f"{fmt_number(e.value, kind)} ± {fmt_number(e.error, 'sig')}"


class _FindingFormatter(string.Formatter):
    def format_field(self, value, format_spec: str) -> str:
        return fmt_number(value, format_spec or None)


def render_finding(finding: Finding) -> str:
    return _FindingFormatter().format(finding.template, **finding.values)


def seeds_named(seeds: list[int]) -> str:
    """Seed numbers in words: 'seed 1', 'seeds 0 and 2', 'seeds 0, 1 and 3'."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return "seeds " + ", ".join(str(s) for s in seeds[:-1]) + f" and {seeds[-1]}"


def schedule_text(lr: float, step_size: int, gamma: float, epochs: int) -> str:
    """A learning-rate schedule in words: its cuts, the rate it ends at, and where it falls to a thousandth of the
    start (where this project ends its CIFAR-10 training)."""
    if not step_size or step_size >= epochs:
        return "constant learning rate"
    cuts = (epochs - 1) // step_size
    text = (f"StepLR ×{gamma:g} every {step_size} epochs ({cuts} cut{'s' if cuts != 1 else ''}; the last epoch runs at "
            f"lr {lr * gamma ** cuts:g}, {gamma ** cuts:g}× the start")
    tiny = math.ceil(math.log(1e-3) / math.log(gamma) - 1e-9) if 0 < gamma < 1 else None  # cuts to reach 1e-3×
    if tiny is not None and epochs == tiny * step_size:
        text += (f"; the next cut would leave {lr * gamma ** tiny:g}, {gamma ** tiny:g}× the start, so training stops "
                 f"after epoch {epochs}")
    elif tiny is not None and epochs > tiny * step_size:
        text += (f"; its last {epochs - tiny * step_size} epochs, from epoch {tiny * step_size + 1}, run at "
                 f"{gamma ** tiny:g}× the start or less")
    return text + ")"


def train_text(tc: TrainConfig) -> str:
    """A training recipe in words: Adam with its rate, decay and schedule, the batch, the epochs and the seed."""
    decay = f"weight decay {tc.weight_decay:g}" if tc.weight_decay else "no weight decay"
    return (f"Adam, lr {tc.lr:g}, {decay}, {schedule_text(tc.lr, tc.step_size, tc.gamma, tc.epochs)}; "
            f"batch {tc.batch_size}; {tc.epochs:,} epochs; seed {tc.seed}")


def sweep_schedule_text(tc: TrainConfig) -> str:
    """A sweep's schedule in words, relative to each run's own starting rate (runs that start at different rates end
    at different ones, so schedule_text's absolute end rate would hold for tc.lr only)."""
    if not tc.step_size or tc.step_size >= tc.epochs:
        return schedule_text(tc.lr, tc.step_size, tc.gamma, tc.epochs)
    cuts = (tc.epochs - 1) // tc.step_size
    return (f"StepLR ×{tc.gamma:g} every {tc.step_size} epochs ({cuts} cut{'s' if cuts != 1 else ''}; the last epoch "
            f"runs at {tc.gamma ** cuts:g}× the run's starting rate)")
