"""Configuration declared once. A settings class is a frozen dataclass whose every field is a `setting`: its
full-profile default, its quick-profile value and the rule its values must pass, side by side. `--set` reads a value
by the field's annotation, and a nested settings class (the training recipe several experiments share) is reached
with a dotted path, e.g. `param-count.train.epochs=5`.

A settings class declares values and computes nothing: a store key takes the resolved values as data, so the code
fingerprint leaves every `@settings` class out (hw1core/fingerprint.py), and so editing a quick value, a rule or a
rule's message never changes a full-profile key.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from .errors import ConfigError
from .rules import Rule

PROFILES = ("quick", "full")
RULE, QUICK = "rule", "quick"
UNCHANGED = object()  # a setting the quick profile leaves at its full-profile value

T = TypeVar("T")


def setting(default: Any, rule: Rule | None = None, quick: Any = UNCHANGED) -> Any:
    """One field: its full-profile default, the rule every value must pass (None only for a nested settings class,
    whose own fields carry the rules) and its quick-profile value (for a nested class: a dict of its fields)."""
    return dataclasses.field(default=default, metadata={RULE: rule, QUICK: quick})


if typing.TYPE_CHECKING:  # a type checker sees a plain dataclass, with every field's default
    from dataclasses import dataclass as settings
else:
    def settings(cls: type[T]) -> type[T]:
        """Declare a settings class (a frozen dataclass of `setting` fields)."""
        return dataclasses.dataclass(frozen=True)(cls)


def is_settings(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def leaves(cls: type, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every field that holds a value, by dotted path, nested settings followed."""
    out: dict[str, dataclasses.Field] = {}
    for f in dataclasses.fields(cls):
        if is_settings(f.default):
            out |= leaves(type(f.default), f"{prefix}{f.name}.")
        else:
            out[prefix + f.name] = f
    return out


def with_quick(cfg: T) -> T:
    """The quick profile: every setting's quick value applied, nested ones included."""
    changes = {}
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value, quick = getattr(cfg, f.name), f.metadata.get(QUICK, UNCHANGED)
        if is_settings(value):
            value = with_quick(value)
            changes[f.name] = dataclasses.replace(value, **quick) if isinstance(quick, dict) else value
        elif quick is not UNCHANGED:
            changes[f.name] = quick
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def profile_config(cls: type[T], profile: str) -> T:
    """The settings at full scale, or with every quick value applied for `quick`."""
    cfg = cls()
    return with_quick(cfg) if profile == "quick" else cfg


def coerce(text: str, kind: Any, key: str) -> Any:
    """Parse `text` as the annotated type: bool, int, float, str or a tuple of one of them (comma-separated)."""
    try:
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            return tuple(coerce(part.strip(), item, key) for part in text.split(",") if part.strip())
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            try:
                return int(text)  # exact: a float would round a long count
            except ValueError:
                value = float(text)  # "1e4" is a whole number too
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(text)
        return text
    except (ValueError, OverflowError):
        name = "comma-separated list" if typing.get_origin(kind) is tuple else getattr(kind, "__name__", str(kind))
        raise ConfigError(f"--set {key}={text}: expected {name}") from None


def parse_overrides(items: list[str], registry: dict) -> dict[str, dict[str, str]]:
    """Split `exp.path=value` strings into {exp: {path: text}}, rejecting unknown names."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        exp, dot, path = name.partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set {item}: expected EXPERIMENT.KEY=VALUE, e.g. simulate.train.epochs=500")
        if exp not in registry:
            raise ConfigError(f"--set {item}: unknown experiment '{exp}'; valid: {', '.join(registry)}")
        paths = leaves(registry[exp].Config)
        if path not in paths:
            raise ConfigError(f"--set {item}: unknown key '{path}' for {exp}; valid: {', '.join(paths)}")
        out.setdefault(exp, {})[path] = text
    return out


def replaced(cfg: T, path: str, text: str, key: str) -> T:
    """cfg with the setting at the dotted `path` set to `text`, parsed by its annotation."""
    head, _, rest = path.partition(".")
    if rest:
        return dataclasses.replace(cfg, **{head: replaced(getattr(cfg, head), rest, text, key)})  # type: ignore[type-var]
    kind = typing.get_type_hints(type(cfg))[head]
    return dataclasses.replace(cfg, **{head: coerce(text, kind, key)})  # type: ignore[type-var]


def resolve(exp_id: str, cls: type[T], profile: str, overrides: dict[str, str]) -> T:
    """The settings of one experiment for a profile, with type-checked overrides applied."""
    cfg = profile_config(cls, profile)
    for path, text in overrides.items():
        cfg = replaced(cfg, path, text, f"{exp_id}.{path}")
    return cfg


def validate(exp_id: str, cfg: Any, prefix: str = "") -> None:
    """Every value against its rule, nested settings included; the first problem is one error line."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if is_settings(value):
            validate(exp_id, value, f"{prefix}{f.name}.")
            continue
        problem = f.metadata[RULE](value, cfg)
        if problem:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise ConfigError(f"{exp_id}.{prefix}{f.name}={shown}: must be {problem}")
