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


def non_negative(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and v >= 0 else "a number ≥ 0"


def fraction(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and 0 < v < 1 else "a number between 0 and 1 (exclusive)"


def decay(v: Any, cfg: Any = None) -> str | None:
    return None if is_number(v) and 0 < v <= 1 else "a factor in (0, 1]"


def each_positive(v: Any, cfg: Any = None) -> str | None:
    return (None if v and all(positive(x) is None for x in v) and len(set(v)) == len(v)
            else "a non-empty list of distinct positive numbers")


def odd_at_least(low: int) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if is_number(v) and v >= low and v % 2 else f"an odd whole number ≥ {low}"
    return rule


def greater_than(other: str) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if is_number(v) and v > getattr(cfg, other) else f"a number above {other}"
    return rule


def pair_of(inner: Rule, what: str) -> Rule:
    def rule(v: Any, cfg: Any = None) -> str | None:
        return None if len(v) == 2 and inner(v, cfg) is None else f"exactly two {what}"
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
