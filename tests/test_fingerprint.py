"""Store keys follow exactly what a computation reads: its resolved settings and the code it runs, data loading and
the run context included; never quick values, rules, messages, display tables, captions or sentences."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw1core.experiments import REGISTRY
from hw1core.fingerprint import code_fingerprint, dependencies, parsed

ROOT = Path(__file__).resolve().parents[1]
SHARED = "hw1core.recipes"  # the module whose code keys the shared CIFAR-10 models


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the project's code to edit."""
    for folder in ("hw1core", "report", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def keys(root: Path) -> dict[str, str]:
    """The code part of every store key: each experiment's, and the shared models'."""
    names = {exp_id: m.__name__ for exp_id, m in REGISTRY.items()} | {"_shared": SHARED}
    return {k: code_fingerprint(name, root) for k, name in names.items()}


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def test_a_copy_has_the_same_keys_as_the_project(tree):
    assert keys(tree) == keys(ROOT)
    assert len(set(keys(tree).values())) == len(REGISTRY) + 1


def changed_after(tree: Path, rel: str, old: str, new: str) -> set[str]:
    """The keys that an edit of one file changes."""
    before = keys(tree)
    edit(tree, rel, old, new)
    for cached in (code_fingerprint, dependencies, parsed):
        cached.cache_clear()
    after = keys(tree)
    return {k for k in before if before[k] != after[k]}


@pytest.mark.parametrize("rel, old, new", [
    # a finding's sentence and a caption (presentation)
    ("report/sections/simulate.py", "reached the lowest mean final training loss", "had the lowest mean final training loss"),
    ("report/sections/sensitivity.py", "Every trained model: final metrics", "All trained models: final metrics"),
    # comments and docstrings in the compute code every experiment uses
    ("hw1core/engine.py", "\nimport", "\n# a new comment\nimport"),
    ("hw1core/analysis.py", '"""', '"""Reworded. '),
    ("hw1core/data.py", "def has_mnist(root: Path) -> bool:\n", 'def has_mnist(root: Path) -> bool:\n    """New."""\n'),
    ("hw1core/experiments/sensitivity.py", '"""The trained models of one sweep', '"""The models of one sweep'),
    ("templates/report.css", "body {", "body { letter-spacing: 0; "),
])
def test_presentation_comments_and_docstrings_leave_every_key_unchanged(tree, rel, old, new):
    assert changed_after(tree, rel, old, new) == set()


def test_an_edit_to_sensitivitys_sweep_changes_sensitivity_and_sharpness_only(tree):
    assert changed_after(tree, "hw1core/experiments/sensitivity.py", "run(batch_size=b) for", "run(batch_size=2 * b) for") == \
        {"sensitivity", "sharpness"}


def test_an_edit_to_one_experiments_training_code_changes_its_key_alone(tree):
    assert changed_after(tree, "hw1core/experiments/simulate.py", "loss=\"mse\"", "loss=\"mse\" ") == set()  # spacing
    assert changed_after(tree, "hw1core/experiments/grad_norm.py", "def train_run(", "def train_run_(") == {"grad-norm"}


def test_an_edit_to_shared_code_changes_the_keys_of_its_users(tree):
    users = {exp_id for exp_id, m in REGISTRY.items() if "hw1core.recipes" in dependencies(m.__name__)}
    assert {"param-count", "interpolation", "sensitivity", "sharpness"} <= users and "simulate" not in users
    assert changed_after(tree, "hw1core/recipes.py", "run.n_eval_train, seed + 1)", "run.n_eval_train, seed + 2)") == \
        users | {"_shared"}
    assert changed_after(tree, "hw1core/engine.py", "\ndef ", "\nSTEP_VERSION = 2\n\n\ndef ") == set(keys(tree))


def test_an_edit_to_data_loading_or_the_run_context_changes_the_keys_of_the_experiments_that_load_data(tree):
    loaders = {exp_id for exp_id, m in REGISTRY.items() if "hw1core.context" in dependencies(m.__name__)}
    assert loaders == set(REGISTRY)  # every compute stage runs in a RunContext, which loads the data sets
    assert changed_after(tree, "hw1core/context.py", "return train.to(device), test.to(device)",
                         "return train.to(device), test.to(device)[::-1]") == set(REGISTRY) | {"_shared"}
    assert changed_after(tree, "hw1core/data.py", "splits.append(Split(ds.data.unsqueeze(1).contiguous()",
                         "splits.append(Split(ds.data.unsqueeze(1)") >= {"actual-task", "random-labels"}


def store_keys_of(root: Path) -> dict[str, dict[str, str]]:
    """Both profiles' store keys as the code under `root` computes them (in a fresh interpreter)."""
    code = ("import json; from hw1core import settings; from hw1core.experiments import REGISTRY, store_keys; "
            "print(json.dumps({p: store_keys({i: settings.resolve(i, m.Config, p, {}) for i, m in REGISTRY.items()}) "
            "for p in settings.PROFILES}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_quick_values_rules_messages_and_display_tables_never_enter_a_key(tree):
    before = store_keys_of(tree)
    edit(tree, "hw1core/experiments/simulate.py", "quick=dict(epochs=600)", "quick=dict(epochs=700)")
    edit(tree, "hw1core/rules.py", '"a positive number"', '"a number above zero"')  # a rule's message
    edit(tree, "hw1core/rules.py", "v > 0 else", "v > 0.0 else")  # and the rule itself
    edit(tree, "hw1core/experiments/error_surface.py", "setting(21, both(odd_between(3, 1001)", "setting(21, both(odd_between(5, 1001)")
    # a new bound, and the import that only the settings use
    edit(tree, "hw1core/experiments/simulate.py", "seeds: int = setting(5, both(count(MAX_MODELS)", "seeds: int = setting(5, both(count(MAX_GRID)")
    edit(tree, "hw1core/experiments/simulate.py", "from ..rules import FUNCTION, MAX_IMAGES, MAX_MODELS,",
         "from ..rules import FUNCTION, MAX_GRID, MAX_IMAGES, MAX_MODELS,")
    edit(tree, "report/sections/grad_norm.py", "def tables(", "def tables_(")  # the display tables moved there
    edit(tree, "report/layers.py", '"1-190-1, LeakyReLU"', '"1-190-1 with LeakyReLU"')  # a model's description
    after = store_keys_of(tree)
    assert after["full"] == before["full"]  # a quick value leaves every full-profile key as it was
    assert {i for i in before["quick"] if before["quick"][i] != after["quick"][i]} == {"simulate"}  # its own quick key


def test_a_settings_class_with_code_is_refused_since_its_code_would_be_in_no_key(tree):
    edit(tree, "hw1core/experiments/simulate.py", "    n_train: int = setting(300, count(MAX_IMAGES))\n",
         "    n_train: int = setting(300, count(MAX_IMAGES))\n\n    def members(self) -> int:\n        return self.seeds * 2\n")
    for cached in (code_fingerprint, dependencies, parsed):
        cached.cache_clear()
    with pytest.raises(ValueError, match=r"simulate\.Config: a @settings class declares fields only"):
        code_fingerprint("hw1core.experiments.simulate", tree)
