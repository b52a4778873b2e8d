"""Compute stages on small real inputs: what they record and how they summarise seeds."""
import math

import numpy as np
import pytest
import torch

from hw1core import engine
from hw1core.context import RunContext
from hw1core.experiments import optimization_path, simulate
from hw1core.store import Store
from report.sections import simulate as simulate_section


def test_optimization_path_always_records_the_final_weights(tmp_path):
    cfg = optimization_path.Config(model="MLP-middle", runs=2, every=3, n_points=100,
                                   train=engine.TrainConfig(epochs=4, batch_size=100, lr=4e-4))
    out = optimization_path.train_runs(cfg, RunContext(torch.device("cpu"), None, Store(tmp_path), "o", "k"))
    assert out.epochs.tolist() == [0, 3, 4]  # start, every 3 epochs, and the last epoch although 4 % 3 != 0
    assert out.whole.shape == (2, 3, 2) and out.values.shape == (2, 3)


def test_the_spread_over_seeds_is_the_standard_error_over_finite_seeds():
    from report.claims import over_seeds
    spread = over_seeds(np.array([1.0, 2.0, 3.0, np.nan]))
    assert spread.value == 2.0 and spread.n == 3
    assert abs(spread.error - 1 / math.sqrt(3)) < 1e-12  # sd with ddof 1 (1.0, not the population's 0.816) over √n
    assert math.isnan(over_seeds(np.array([5.0])).error)  # one seed has no spread
    nothing = over_seeds(np.array([np.nan, np.nan]))
    assert math.isnan(nothing.value) and nothing.n == 0


@pytest.mark.parametrize("arch", simulate.Config().models)
def test_every_default_simulate_model_learns_f1_within_seconds(arch):
    """The course's models leave the mean of f1 quickly (a 1→1 input layer in front kept most seeds there)."""
    from hw1core import data
    x = torch.linspace(-1, 1, 300).unsqueeze(1)
    y = data.FUNCTIONS["f1"](x)
    stack = engine.Stack(arch, [0, 1, 2])
    hist = engine.train(stack, engine.Task(x, y, loss="mse"), engine.TrainConfig(200, 64, 4e-4, 1e-4))
    # a seed at the mean ends at the variance; after 200 epochs the slowest model (MLP-shallow) is at 0.43 of it
    assert np.median(hist.train_loss[:, -1]) < 0.5 * float(y.var(unbiased=False))


def test_simulate_counts_the_seeds_that_stay_at_the_mean():
    from fakes import simulate_result
    from report.format import render_finding
    cfg, res = simulate_result(["MLP-deep-r", "MLP-deep"], [0.0869, 0.005])
    text = " ".join(render_finding(f) for f in simulate_section.findings(cfg, res))
    assert "3 of 3 seeds of MLP-deep-r (the variant with a 1→1 input layer) stayed at the mean of f1" in text
    assert "seeds of MLP-deep " not in text
    table = simulate_section.tables(cfg, res)[0].frame
    assert table["seeds at the mean"].tolist() == ["3/3", "0/3"]


def test_sharpness_of_a_sweep_whose_every_model_diverged_is_nan_and_its_section_renders(tmp_path):
    from fakes import sensitivity_result
    from hw1core.experiments import sharpness
    from report.format import render_finding
    from report.sections import sharpness as sharpness_section
    sens_cfg, sens = sensitivity_result([1.0] * 4, [1.0] * 4, seeds=1)
    sens.runs.loc[sens.runs["sweep"].isin(sharpness.BATCH_SWEEPS), "diverged_epoch"] = 2
    ctx = RunContext(torch.device("cpu"), None, Store(tmp_path), "sharpness", "k",
                     inputs={"sensitivity": (sens_cfg, sens)})
    cfg = sharpness.Config()
    res = sharpness.run(cfg, ctx)
    assert res.sharpness.shape == (len(cfg.eps), 8) and np.isnan(res.sharpness).all()
    assert res.models["batch"].tolist() == [16, 64, 256, 1024] * 2
    assert res.models["sweep"].tolist() == ["batch"] * 4 + ["scaled"] * 4
    [render_finding(f) for f in sharpness_section.findings(cfg, res)]
    assert len(sharpness_section.figures(cfg, res)) == 1 and len(sharpness_section.tables(cfg, res)) == 1


def test_sharpness_reads_the_models_and_sensitivities_of_the_sensitivity_it_is_given(tmp_path):
    from hw1core import recipes
    from hw1core.experiments import sensitivity, sharpness
    from hw1core.settings import resolve
    store = Store(tmp_path)
    over = {"train.epochs": "1", "data.n_train": "200", "data.n_test": "100", "n_eval_train": "100", "n_sens": "20",
            "batch_sizes": "50,100", "lrs": "0.001"}
    sens_cfg = resolve("sensitivity", sensitivity.Config, "quick", over)
    sens = sensitivity.run(sens_cfg, RunContext(torch.device("cpu"), None, store, "sensitivity", "s"))
    calls = []
    real = recipes.train_cifar
    import unittest.mock
    with unittest.mock.patch.object(recipes, "train_cifar", lambda *a, **k: calls.append(1) or real(*a, **k)):
        res = sharpness.run(resolve("sharpness", sharpness.Config, "quick", {"n_sharp": "20", "ascent_steps": "1"}),
                            RunContext(torch.device("cpu"), None, store, "sharpness", "h",
                                       inputs={"sensitivity": (sens_cfg, sens)}))
    assert calls == []  # no model trained or loaded again: the weights come from sensitivity's Result
    batch = sens.runs[sens.runs["sweep"].isin(sharpness.BATCH_SWEEPS)]
    assert res.models["jacobian"].tolist() == batch["jacobian"].tolist()
    assert res.models["sweep"].tolist() == ["batch", "batch", "scaled", "scaled"]
    assert np.isfinite(res.sharpness).all() and (res.sharpness >= 0).all()


def test_minimal_ratio_phase_one_takes_one_full_batch_step_per_epoch(tmp_path):
    from hw1core.experiments import minimal_ratio
    from hw1core.settings import resolve
    cfg = resolve("minimal-ratio", minimal_ratio.Config, "quick",
                  {"runs": "2", "n_train": "50", "epochs": "3", "gn_steps": "2", "gn_tol": "1e-12"})
    res = minimal_ratio.run_all(cfg, RunContext(torch.device("cpu"), None, Store(tmp_path), "m", "k"))
    assert res.steps == 3 + 2  # 3 epochs of one step each, then the 2 gradient-norm steps
    assert len(res.runs) == 2 and (res.runs["positive"] + res.runs["negative"] + res.runs["near_zero"] == 321).all()
