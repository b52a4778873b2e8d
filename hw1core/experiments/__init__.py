"""The experiments' compute stages: what each must provide (`Experiment`), the registry (its order is the report's
order) and the context a stage runs in.

One module per experiment holds its compute stage alone: `Config`, `QUICK`, `run` and the code `run` calls. Its store
key is the resolved config plus the fingerprint of that module and of every `hw1core` module it imports, so nothing
that only shapes the report belongs here: questions, figures, tables and findings live in `report/sections/`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch

from .. import data
from ..fingerprint import code_fingerprint
from ..results import Results
from ..rules import Rule
from ..store import Store, config_key
from . import (actual_task, error_surface, grad_norm, interpolation, minimal_ratio, optimization_path, param_count,
               random_labels, sensitivity, sharpness, simulate)


@runtime_checkable
class Experiment(Protocol):
    """The compute stage of one experiment (a module of this package)."""
    ID: str  # the experiment's id: `--only`, `--set`, the store folder and the report's anchor
    Config: type  # a dataclass; its defaults are the full profile
    QUICK: dict[str, Any]  # the values the quick profile changes
    RULES: dict[str, Rule]  # a rule for every Config field (hw1core/rules.py), checked before anything runs

    def run(self, cfg: Any, ctx: Context) -> Results:
        """Train and measure; everything the report shows is computed from what this returns."""


REGISTRY: dict[str, Experiment] = {m.ID: m for m in (
    simulate, actual_task, optimization_path, grad_norm, minimal_ratio, error_surface, random_labels, param_count,
    interpolation, sensitivity, sharpness)}
assert all(isinstance(m, Experiment) for m in REGISTRY.values())


def store_key(experiment: Experiment, cfg) -> str:
    """Where an experiment's results for this config and this code are stored."""
    return config_key(asdict(cfg), code_fingerprint(experiment.__name__))


@lru_cache(maxsize=None)
def _dataset(name: str, data_dir: str | None, device: str) -> tuple[data.Split, data.Split]:
    train, test = data.load_mnist(data_dir) if name == "MNIST" else data.load_cifar10(data_dir)
    return train.to(device), test.to(device)


@dataclass
class Context:
    """Where and how an experiment runs: the device, the data, and its slot in the store."""
    device: torch.device
    data_dir: str | None
    store: Store
    exp_id: str
    key: str
    force: bool = False  # retrain shared models too, once per build
    fresh: set = field(default_factory=set)  # shared models trained in this build (shared across contexts)

    def dataset(self, name: str) -> tuple[data.Split, data.Split]:
        """("MNIST" | "CIFAR-10") train and test splits on the device, loaded once per build."""
        return _dataset(name, self.data_dir, str(self.device))

    def shared(self, spec: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A model trained to `spec` by `compute`, shared by every experiment that asks for the same spec; its key
        follows the code of the module that defines `compute`."""
        key = config_key(spec, code_fingerprint(compute.__module__))
        if self.force and key not in self.fresh:
            self.store.drop_shared(key)
        self.fresh.add(key)
        return self.store.shared(key, compute)

    def part(self, name: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A finished run kept in the store, so that a killed build loses at most the run in progress."""
        return self.store.part(self.exp_id, self.key, name, compute)
