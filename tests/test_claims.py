"""Every sentence true to the data: findings fed numbers for which a claim is false must not make it, and figures say
what they plot."""
import numpy as np
import pandas as pd
import torch

import fakes
from hw1core import data
from hw1core.experiments import error_surface, minimal_ratio
from report.format import render_finding
from report.sections import SECTIONS


def texts(exp_id: str, cfg_res: tuple) -> str:
    return " ".join(render_finding(f) for f in SECTIONS[exp_id].findings(*cfg_res))


def test_error_surface_is_evaluated_on_the_models_own_training_images():
    n = 5000
    train = data.Split(torch.arange(n).view(n, 1, 1, 1), torch.zeros(n, dtype=torch.long))
    import dataclasses
    fit, ev = error_surface.training_sets(dataclasses.replace(error_surface.Config(), n_train=300, n_eval=100), train)
    assert len(fit.y) == 300 and len(ev.y) == 100
    assert set(ev.x.flatten().tolist()) <= set(fit.x.flatten().tolist())


def test_error_surface_states_where_the_minimum_lies_without_claiming_why():
    lower = texts("error-surface", fakes.error_surface_result(1.0, 0.5, (0.5, -0.5)))
    assert "stopped short" not in lower and "optimiser" not in lower
    assert "(α, β) = (0.5, -0.5)" in lower and "50.0% below" in lower and "weight decay" in lower
    at_center = texts("error-surface", fakes.error_surface_result(1.0, 1.0, (0.0, 0.0)))
    assert "are the lowest point of the grid" in at_center and "at the bottom" not in at_center


def test_error_surface_colour_bar_is_in_cross_entropy_units():
    import dataclasses
    cfg, res = fakes.error_surface_result(1.0, 0.5, (0.5, -0.5))
    res = dataclasses.replace(res, random=np.geomspace(0.5, 40.0, 25).reshape(5, 5))
    spec = SECTIONS["error-surface"].figures(cfg, res)[0]
    bar = spec.figure.axes[1]  # the colour bar's axes
    assert "cross-entropy" in bar.get_ylabel() and "log10" not in bar.get_ylabel()
    spec.figure.canvas.draw()
    low, high = bar.get_ylim()
    assert low >= 0.45 and high >= 35  # the bar's scale is the loss itself (0.5 … 40), not its logarithm (−0.3 … 1.6)
    labels = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert labels and not any("^" in s or "10^" in s for s in labels)


def test_actual_task_claims_no_overfitting_verdict_and_no_cause_for_the_plateau():
    text = texts("actual-task", fakes.actual_task_result([0.95, 0.96], [0.97, 0.98], plateau=14))
    assert "overfit" not in text.replace("cannot show whether a model overfits", "")
    assert "mini- " not in text and "mini-batches" in text
    assert "freeze" not in text and "stops moving" not in text
    assert "cut the learning rate 1 time(s), after epoch 10, to 0.1× its start." in text


def test_grad_norm_states_no_unmeasured_cause():
    n = 40
    loss = np.linspace(2.0, 0.1, n)
    norm = np.linspace(0.5, 3.0, n)  # rises while the loss falls: Spearman −1
    text = texts("grad-norm", fakes.grad_norm_result(norm, loss))
    assert "steeper" not in text and "tends to rise while the loss falls" in text


def test_simulate_finds_the_deepest_model_from_the_architectures_not_the_config_order():
    # the config lists the shallow model first; the deepest (most weight layers) is MLP-deep
    agrees = texts("simulate", fakes.simulate_result(["MLP-shallow", "MLP-middle", "MLP-deep"], [0.04, 0.02, 0.01]))
    assert "the deepest model fitted best" in agrees and "contrary" not in agrees
    disagrees = texts("simulate", fakes.simulate_result(["MLP-deep", "MLP-shallow"], [0.04, 0.01]))
    assert "contrary to the homework's expectation that the deepest model (MLP-deep" in disagrees


def test_simulate_states_no_reason_tied_to_a_function_name():
    import dataclasses
    cfg, one = fakes.simulate_result(["MLP-deep"], [0.5])
    _, other = fakes.simulate_result(["MLP-deep"], [0.01])  # here f1, the smooth one, is the harder
    res = dataclasses.replace(one, loss=np.concatenate([one.loss, other.loss]), pred=np.concatenate([one.pred] * 2),
                              diverged_epoch=np.concatenate([one.diverged_epoch] * 2),
                              target_variance=np.array([1.0, 1.0]), truth=np.concatenate([one.truth] * 2))
    text = texts("simulate", (dataclasses.replace(cfg, functions=("f1", "f2")), res))
    assert "f1 ended with a 50× higher final loss than f2." in text
    assert "peak" not in text and "jumps" not in text


def test_optimization_path_compares_end_distances_with_start_distances():
    text = texts("optimization-path", fakes.optimization_path_result([0.1, 0.1], [0.5, 0.52], start_dist=20.0,
                                                                     end_dist=19.5, displacement=10.0))
    # ends far apart relative to the displacement (1.95×), yet no closer than they started: no "own region" claim
    assert "own region" not in text and "about as far apart as they started" in text and "displaced" in text


def test_sensitivity_disagreement_states_the_measured_directions():
    text = texts("sensitivity", fakes.sensitivity_result([4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]))
    assert "(a) falls and (b) rises with the batch size" in text
    assert "can fall while (a) rises" not in text


def test_sensitivity_names_the_batch_size_of_a_diverged_run():
    text = texts("sensitivity", fakes.sensitivity_result([1, 2, 3, 4], [1, 2, 3, 4], diverged_batch=4096))
    assert "batch 4096 and lr 0.001 (batch-size sweep, seed 0) diverged" in text


def test_interpolation_never_says_rises_by_a_negative_amount():
    alpha = np.linspace(-0.5, 1.5, 9)
    falls_at_start = np.array([0.9, 0.8, 1.0, 1.1, 1.8, 1.5, 1.2, 1.3, 1.4])  # α = 0 (index 2) sits on a slope
    text = texts("interpolation", fakes.interpolation_result(alpha, falls_at_start))
    assert "rises by -" not in text and "rises by −" not in text
    assert "falls by 0.05" in text and "no sharpness comparison" in text


def tick_labels(fig, ax) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()
    return [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) if t.get_text()]


def test_log_axes_under_two_decades_have_plain_tick_labels():
    from report import plots
    from report.document import png_bytes
    from report.outputs import FigureSpec
    fig, (ax,) = plots.new_figure()
    ax.plot([1, 2, 3], [2.1, 3.5, 9.0])
    ax.set_yscale("log")
    png_bytes(FigureSpec("x", "caption", fig))
    labels = tick_labels(fig, ax)
    assert "2" in labels and "3" in labels and not any("10^" in s or "times" in s for s in labels)
    small, (ax3,) = plots.new_figure()
    ax3.plot([1, 2, 3], [0.03, 0.1, 0.3])
    ax3.set_yscale("log")
    png_bytes(FigureSpec("z", "caption", small))
    assert "0.1" in tick_labels(small, ax3) and not any("e-" in s for s in tick_labels(small, ax3))
    wide, (ax2,) = plots.new_figure()
    ax2.plot([1, 2, 3], [1e-4, 1e-1, 10.0])
    ax2.set_yscale("log")
    png_bytes(FigureSpec("y", "caption", wide))
    assert any("10^" in s for s in tick_labels(wide, ax2))  # five decades keep powers of ten


def test_minimal_ratio_qualifies_minima_by_the_flat_directions():
    runs = pd.DataFrame({"loss": [1e-3, 2e-3, 3e-3], "grad_norm": [1e-4] * 3, "reached": [10, 20, 0],
                         "ratio": [0.2, 0.15, 0.1], "positive": [64, 48, 32], "negative": [0, 0, 5],
                         "near_zero": [257, 273, 284], "ratio_nonzero": [1.0, 1.0, 32 / 37],
                         "above_zero": [150, 160, 170], "gauss_newton_rank": [64, 48, 37],
                         "eig_min": [-1e-9, -1e-9, -0.1], "eig_max": [2.0] * 3})
    text = texts("minimal-ratio", fakes.minimal_ratio_result(runs))
    assert "strict local minimum" not in text
    assert "2 runs have no eigenvalue below −τ (a minimum up to the flat directions" in text
    assert "1 have at least one (a saddle point)" in text and "0 runs have a ratio of 1" in text
    setup = dict(SECTIONS["minimal-ratio"].setup(minimal_ratio.Config()))
    assert "at most one flat direction per hidden unit" in setup["Why it is not the symmetry"]
    # 321 − 49.7 = 271.3 directions without first-order curvature, against 271.3 near-zero eigenvalues on average
    assert "leaves 271 of the 321 directions without curvature from it; the Hessian has 271 near-zero eigenvalues, about as many" in text
    assert "accounts for at most 32" in text and "160 eigenvalues per run are positive on average (150–170)" in text
