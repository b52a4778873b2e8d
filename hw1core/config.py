"""Profiles and `--set` overrides: one resolved config dataclass per experiment."""
from __future__ import annotations

import dataclasses
from typing import Any

from .errors import ConfigError

PROFILES = ("quick", "full")


def profile_config(module, profile: str):
    """The experiment's Config at full scale, with the module's QUICK values applied for `quick`."""
    cfg = module.Config()
    return dataclasses.replace(cfg, **module.QUICK) if profile == "quick" else cfg


def coerce(text: str, default: Any, key: str) -> Any:
    """Parse `text` into the type of `default`; YAML-style guessing would read 1e-3 as a string."""
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            kind = default[0] if default else ""
            return tuple(coerce(part.strip(), kind, key) for part in text.split(",") if part.strip())
        return text
    except ValueError:
        kind = type(default).__name__ if not isinstance(default, tuple) else "comma-separated list"
        raise ConfigError(f"--set {key}={text}: expected {kind}") from None


def parse_overrides(items: list[str], registry: dict) -> dict[str, dict[str, str]]:
    """Split `exp.field=value` strings into {exp: {field: text}}, rejecting unknown names."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        exp, dot, field = name.partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set {item}: expected EXPERIMENT.KEY=VALUE, e.g. simulate.epochs=500")
        if exp not in registry:
            raise ConfigError(f"--set {item}: unknown experiment '{exp}'; valid: {', '.join(registry)}")
        fields = [f.name for f in dataclasses.fields(registry[exp].Config)]
        if field not in fields:
            raise ConfigError(f"--set {item}: unknown key '{field}' for {exp}; valid: {', '.join(fields)}")
        out.setdefault(exp, {})[field] = text
    return out


def resolve(module, profile: str, overrides: dict[str, str]):
    """The config of one experiment for a profile, with type-checked overrides applied."""
    cfg = profile_config(module, profile)
    values = {f: coerce(text, getattr(cfg, f), f"{module.ID}.{f}") for f, text in overrides.items()}
    return dataclasses.replace(cfg, **values)


def validate(module, cfg) -> None:
    """Every value of an experiment's resolved config against the rules its module declares."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        problem = module.RULES[f.name](value, cfg)
        if problem:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise ConfigError(f"{module.ID}.{f.name}={shown}: must be {problem}")
