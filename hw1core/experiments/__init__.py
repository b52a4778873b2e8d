"""The experiments' compute stages: what each must provide (`Experiment`), the registry (its order is the report's
order) and the store key of a computation.

One module per experiment holds its compute stage alone: its `Config` (a settings class), its `Result` (the record of
what it measures), `parts(cfg)` (the pieces that can be computed on their own, hw1core/context.py's Part), `run(cfg,
ctx) -> Result`, which assembles the stored parts, with the code they call, and, where it reads other experiments'
results (through `ctx.input`), their ids as `INPUTS`. Nothing that only shapes the report belongs here: questions, figures,
display tables and findings live in `report/sections/`.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from ..context import Part, RunContext
from ..fingerprint import code_fingerprint
from ..store import config_key
from . import (actual_task, error_surface, grad_norm, interpolation, minimal_ratio, optimization_path, param_count,
               random_labels, sensitivity, sharpness, simulate)


class Experiment(Protocol):
    """The compute stage of one experiment (a module of this package)."""
    ID: str  # the experiment's id: `--only`, `--set`, the store folder and the report's anchor
    Config: type  # a settings class (hw1core/settings.py); its defaults are the full profile
    Result: type  # a frozen dataclass of what run() measures (hw1core/results.py)

    def parts(self, cfg: Any) -> list[Part]:
        """Every piece of the computation, listed before anything runs: the build schedules them as jobs."""

    def run(self, cfg: Any, ctx: RunContext) -> Any:
        """The Result, assembled from the parts (which it computes in this process when they are not stored yet);
        everything the report shows is computed from what this returns."""


REGISTRY: dict[str, Experiment] = {m.ID: m for m in (
    simulate, actual_task, optimization_path, grad_norm, minimal_ratio, error_surface, random_labels, param_count,
    interpolation, sensitivity, sharpness)}



def inputs_of(exp_id: str) -> tuple[str, ...]:
    """The experiments whose config and Result `exp_id`'s run() reads (its module's INPUTS; most have none)."""
    return getattr(REGISTRY[exp_id], "INPUTS", ())


# An experiment's inputs are built before it: they come earlier in the registry.
assert all(list(REGISTRY).index(i) < list(REGISTRY).index(e) for e in REGISTRY for i in inputs_of(e))


def store_keys(configs: dict[str, Any]) -> dict[str, str]:
    """Every experiment's store key: its resolved config, the fingerprint of its compute module and of all the code
    that module uses, and the keys of the results it reads."""
    keys: dict[str, str] = {}
    for exp_id, experiment in REGISTRY.items():
        spec = {"config": asdict(configs[exp_id]), "inputs": {i: keys[i] for i in inputs_of(exp_id)}}
        keys[exp_id] = config_key(spec, code_fingerprint(experiment.__name__))  # type: ignore[attr-defined]
    return keys
