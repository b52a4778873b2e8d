"""Rules for settings values, given to each `setting` (hw1core/settings.py): a rule takes the value and the settings
object it sits in and returns None when the value is fine, else what is allowed (for a one-line error)."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

Rule = Callable[[Any, Any], "str | None"]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and v > 0 else "a positive number"


def positive_to(high: float) -> Rule:
    """A positive number up to high: a rate or size whose larger values would overflow what is computed from it."""
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if is_number(v) and 0 < v <= high else f"a positive number up to {high:g}"
    return rule


def non_negative(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and v >= 0 else "a number ≥ 0"


def fraction(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and 0 < v < 1 else "a number between 0 and 1 (exclusive)"


def decay(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and 0 < v <= 1 else "a factor in (0, 1]"


# Upper bounds for the whole numbers that count or size something: each fits a 64-bit integer and what it implies
# fits this project's machines (a value past its bound would fail mid-build, or run for years).
MAX_EPOCHS = 1_000_000  # epochs, steps, schedule periods (simulate's full profile runs 20,000)
MAX_BATCH = 1_000_000  # batch sizes; larger than any split, where a batch is simply the whole split
MAX_IMAGES = 1_000_000  # images or points drawn from a split (a larger subset is the whole split)
MAX_SEED = 2 ** 31 - 1  # seeds: what every generator here accepts
MAX_MODELS = 1_000  # seeds or runs per point: models trained and held together
MAX_GRID = 10_000  # grid points along one axis
MAX_LIST = 100  # values in a swept list: each is a model or more to train
MAX_HELD = 500_000_000  # numbers an experiment holds at once (2 GB as float32): weights of grid points, copies, histories
MAX_RATE = 100.0  # learning rates: far past any that trains, and their products with scalings stay finite
MAX_ALPHA = 1_000.0  # interpolation coefficients and grid spans, in units of the distance they scale


def count(high: int, low: int = 1) -> Rule:
    """A whole number from low to high: a count or size with its bound."""
    def rule(v: Any, cfg: Any = None) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        return None if ok else f"a whole number from {low:,} to {high:,}"
    return rule


def each_of(inner: Rule, what: str) -> Rule:
    """A non-empty list of at most MAX_LIST distinct values, each passing `inner`; `what` names them (plural)."""
    def rule(v: Any, cfg: Any = None) -> str | None:
        ok = v and len(v) <= MAX_LIST and all(inner(x, None) is None for x in v) and len(set(v)) == len(v)
        return None if ok else f"a list of 1 to {MAX_LIST} distinct {what}"
    return rule


def each_count(high: int) -> Rule:
    return each_of(count(high), f"whole numbers from 1 to {high:,}")


def each_positive_to(high: float) -> Rule:
    return each_of(positive_to(high), f"positive numbers up to {high:g}")


def between(low: float, high: float) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if is_number(v) and low <= v <= high else f"a number from {low:g} to {high:g}"
    return rule


def both(first: Rule, second: Rule) -> Rule:
    """The first rule, then the second (which may then assume the first holds)."""
    def rule(v: Any, cfg: Any = None) -> str | None:
        return first(v, cfg) or second(v, cfg)
    return rule


def holds(size: Callable[[Any], int], what: str) -> Rule:
    """A value whose settings make the experiment hold at most MAX_HELD numbers at once: `size(cfg)` counts them,
    `what` says what they are (in the message that names the product). It sits on the last of the fields it reads,
    so that each of those has passed its own rule first."""
    def rule(v: Any, cfg: Any = None) -> str | None:
        n = size(cfg)
        return None if n <= MAX_HELD else f"part of settings that hold less: {what} would be {n:,} numbers held " \
                                           f"at once, past {MAX_HELD:,}"
    return rule


def weights_of(model: str) -> int:
    """The parameters of an architecture, for the bounds on how many copies of them an experiment holds."""
    from .models import param_count_of
    return param_count_of(model)


def odd_between(low: int, high: int) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        ok = count(high, low)(v, None) is None and v % 2
        return None if ok else f"an odd whole number from {low} to {high:,}"
    return rule


def greater_than(other: str) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if is_number(v) and v > getattr(cfg, other) else f"a number above {other}"
    return rule


def pair_of(inner: Rule, what: str) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        if len(v) != 2:
            return f"exactly two {what}"
        problem = inner(v, cfg)
        return f"two {what}, {problem}" if problem else None
    return rule


def one_of(valid: Iterable[str]) -> Rule:
    names = list(valid)

    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if v in names else f"one of {', '.join(names)}"
    return rule


def all_of(valid: Iterable[str]) -> Rule:
    names = list(valid)

    def rule(v: Any, cfg: Any = None) -> str | None:
        return (None if v and all(x in names for x in v) and len(set(v)) == len(v)
                else f"a non-empty list of distinct names from {', '.join(names)}")
    return rule


def architectures(input_shape: tuple[int, ...]) -> list[str]:
    """The architecture names that take inputs of this shape (one example, no batch dimension)."""
    from .models import ARCHS
    return [n for n, a in ARCHS.items() if a.input_shape == input_shape]


FUNCTION = (1,)  # the 1-D regression MLPs
CIFAR, MNIST, MNIST_32 = (3, 32, 32), (1, 28, 28), (1, 32, 32)


def is_finite(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) else "a finite number"
