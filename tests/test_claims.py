"""Every sentence true to the data: findings fed numbers for which a claim is false must not make it, and figures say
what they plot."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import fakes
from hw1core import data
from hw1core.experiments import error_surface, minimal_ratio
from report import claims as rule
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
    assert "cut the learning rate once, after epoch 10, to 0.1× its start." in text


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
    assert "f1 ended with a higher final loss than f2 for 1 of 1 models, clear of the seeds' spread; averaged over " \
           "the models, 50× f2's." in text
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
    assert "leaves 271 of the 321 directions without curvature from it; the Hessian has 271 near-zero eigenvalues, indistinguishable from that over these runs" in text
    assert "accounts for at most 32" in text and "160 eigenvalues per run are positive on average (150–170)" in text


# --- the comparison rule (report/claims.py) -------------------------------------------------------------------------



def test_two_accuracies_inside_their_sampling_error_are_indistinguishable():
    # 98.8 % against 98.77 % over 10,000 test images: the binomial standard error is 0.11 points each.
    a, b = rule.accuracy(0.988, 10_000), rule.accuracy(0.9877, 10_000)
    assert abs(a.error - (0.988 * 0.012 / 10_000) ** 0.5) < 1e-12
    assert rule.compare(a, b) == "≈" and rule.compare(b, a) == "≈"
    far = rule.accuracy(0.95, 10_000)
    assert rule.compare(a, far) == ">" and rule.compare(far, a) == "<"


def test_seed_comparisons_are_welchs_t_test():
    from scipy import stats
    x, y = [0.20, 0.22, 0.18, 0.21, 0.19], [0.26, 0.31, 0.24, 0.29, 0.35]
    p = rule.difference_p(rule.over_seeds(x), rule.over_seeds(y))
    assert abs(p - stats.ttest_ind(x, y, equal_var=False).pvalue) < 1e-9
    assert rule.compare(rule.over_seeds(x), rule.over_seeds(y)) == "<"
    overlapping = [0.21, 0.17, 0.25, 0.19, 0.22]
    assert rule.compare(rule.over_seeds(x), rule.over_seeds(overlapping)) == "≈"
    assert rule.compare(rule.over_seeds([0.1]), rule.over_seeds([0.9])) == "≈"  # one seed: no spread, no claim


def test_a_trend_needs_its_p_value():
    x = [16, 64, 256, 1024, 4096]
    assert rule.trend(x, [1.0, 2.0, 3.0, 4.0, 5.0]).relation == "rising"
    assert rule.trend(x, [5.0, 4.0, 3.0, 2.0, 1.0]).relation == "falling"
    assert rule.trend(x, [1.0, 3.0, 2.0, 5.0, 4.0]).relation == "no trend"  # ρ = 0.8 on 5 points: p ≈ 0.10
    assert rule.trend(x[:2], [1.0, 2.0]).relation == "no trend" and rule.trend(x, [1.0] * 5).relation == "no trend"
    four = rule.trend(x[:4], [1.0, 2.0, 3.0, 4.0])  # 4 points in order: exact p = 2 / 4! (scipy's t says 0)
    assert four.rho == 1 and abs(four.p - 2 / 24) < 1e-12 and four.relation == "no trend"
    assert abs(rule.trend(x, [1.0, 2.0, 3.0, 4.0, 5.0]).p - 2 / 120) < 1e-12
    seeds = rule.trend(x * 3, [1.0, 3.0, 2.0, 5.0, 4.0] * 3)  # the same ranks on 15 points are clear
    assert seeds.n == 15 and seeds.relation == "rising"


def test_the_best_of_several_is_only_clear_of_those_it_beats():
    rank = rule.best_of("test accuracy", {"A": rule.accuracy(0.90, 10_000), "B": rule.accuracy(0.899, 10_000),
                                          "C": rule.accuracy(0.80, 10_000)})
    assert rank.best == "A" and rank.tied == ["B"] and rank.clear == ["C"]
    assert [c.relation for c in rank.claims] == ["≈", ">"]


def summary_with(tmp_path, name, *claims):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"claims": [rule.claim_record("x", "f", c, "s") for c in claims]}))
    return path


def test_the_claims_check_finds_a_draft_that_contradicts_the_full_build(tmp_path, capsys):
    full = summary_with(tmp_path, "full", rule.Claim("loss", ("A", "B"), "<"), rule.Claim("acc", ("A", "C"), ">"))
    agrees = summary_with(tmp_path, "agrees", rule.Claim("loss", ("B", "A"), ">"), rule.Claim("acc", ("A", "C"), "≈"))
    assert rule.main([str(agrees), str(full)]) == 0  # B > A is A < B; saying less ("≈") is no contradiction
    out = capsys.readouterr().out
    assert "contradict: 0" in out and "agree: 1" in out and "says less: 1" in out
    reversed_ = summary_with(tmp_path, "reversed", rule.Claim("loss", ("A", "B"), ">"))
    assert rule.main([str(reversed_), str(full)]) == 1
    assert "x.loss:A~B: > in the draft, < in the full build" in capsys.readouterr().out
    rises = summary_with(tmp_path, "rises", rule.Claim("gap", ("gap", "batch size"), "rising"))
    falls = summary_with(tmp_path, "falls", rule.Claim("gap", ("gap", "batch size"), "falling"))
    swapped = summary_with(tmp_path, "swapped", rule.Claim("gap", ("batch size", "gap"), "rising"))
    assert rule.main([str(rises), str(swapped)]) == 0  # a trend reads the same whatever the subjects' order
    assert rule.main([str(rises), str(falls)]) == 1


def test_the_claims_check_refuses_a_file_that_is_not_a_summary_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(SystemExit) as exc:
        rule.main([str(bad), str(bad)])
    assert "cannot read" in str(exc.value) and "\n" not in str(exc.value)


def test_actual_task_calls_accuracies_inside_their_sampling_error_indistinguishable():
    cfg, res = fakes.actual_task_result([0.99, 0.99], [0.988, 0.9877], plateau=5)
    found = {f.name: f for f in SECTIONS["actual-task"].findings(cfg, res)}
    best = render_finding(found["best-test-acc.MNIST"])
    assert "indistinguishable at this scale from MNIST-CNN-2 (98.8 ± 0.1%)" in best and "clearly" not in best
    assert [c.relation for c in found["best-test-acc.MNIST"].claims] == ["≈"]
    # 99 % running training accuracy over 60,000 images against 98.8 % test over 10,000: within both errors
    train_test = render_finding(found["train-vs-test.MNIST"])
    assert "the two are indistinguishable at this scale for MNIST-CNN-1: 99.0% training, 98.8% test" in train_test
    assert "clearly" not in train_test and "understates" not in train_test
    depth = render_finding(found["depth.MNIST"])  # MNIST-CNN-2 has 7 weight layers, MNIST-CNN-1 5
    assert depth.startswith("Deep against shallow on MNIST: MNIST-CNN-2 (7 weight layers")
    assert "indistinguishable at this scale from MNIST-CNN-1's" in depth
    apart = {f.name: f for f in SECTIONS["actual-task"].findings(*fakes.actual_task_result([0.99, 0.99], [0.95, 0.99], 5))}
    assert "clearly above MNIST-CNN-1" in render_finding(apart["best-test-acc.MNIST"])
    assert "higher than MNIST-CNN-1's" in render_finding(apart["depth.MNIST"])


def param_count_findings(test_acc: list[float]) -> dict:
    from hw1core.experiments import param_count
    n = len(test_acc)
    frame = pd.DataFrame({"model": [f"CNN-{i}" for i in range(n)], "params": [1000 * 2 ** i for i in range(n)],
                          "train_loss": [1.0] * n, "test_loss": [1.1] * n, "train_acc": [0.7] * n,
                          "test_acc": test_acc, "diverged_epoch": [0] * n})
    found = SECTIONS["param-count"].findings(param_count.Config(), param_count.Result(0, frame))
    return {f.name: f for f in found}


def test_param_count_states_a_size_trend_only_with_its_p_value():
    rising = param_count_findings([0.50, 0.52, 0.55, 0.57, 0.60, 0.62])
    text = render_finding(rising["test-acc-vs-size"])
    assert "test accuracy rises with size" in text and "(p = " in text
    assert rising["test-acc-vs-size"].claims[0].relation == "rising"
    assert rising["gap-vs-size"].claims[0].relation == "falling"  # equal training accuracy: the gap shrinks
    mixed = param_count_findings([0.55, 0.50, 0.57, 0.52, 0.56, 0.53])  # ρ ≈ 0.26 over 6 models
    assert "shows no trend with size that its p-value can carry" in render_finding(mixed["test-acc-vs-size"])
    best = render_finding(mixed["best-test-acc"])  # 57 % against 56 % over 10,000 images: 1.4 standard errors
    assert "belongs to CNN-2" in best and "indistinguishable from it at this scale" in best and "CNN-4" in best


def test_param_count_names_a_plateau_and_its_bottleneck_and_no_overfitting():
    from hw1core.experiments import param_count
    accs = {"CNN-26": 0.689, "CNN-27": 0.715, "CNN-28": 0.717, "CNN-29": 0.712, "CNN-30": 0.754}
    frame = pd.DataFrame({"model": list(accs), "params": [52004, 63054, 74754, 83854, 130122], "train_loss": [0.8] * 5,
                          "test_loss": [0.9] * 5, "train_acc": [0.75] * 5, "test_acc": list(accs.values()),
                          "diverged_epoch": [0] * 5})
    found = {f.name: render_finding(f) for f in
             SECTIONS["param-count"].findings(param_count.Config(), param_count.Result(0, frame))}
    assert "From CNN-27 to CNN-29 (63,054 → 83,854 parameters) test accuracy stays within its sampling error" in \
        found["plateau.CNN-27"]
    assert "only conv4 (64 → 128) widens, while conv5, the last before the classifier, stays 16 wide" in \
        found["plateau.CNN-27"]
    assert "none of these models is large enough to over-fit" in found["over-fitting"]
    frame.loc[4, "test_acc"] = 0.70  # the largest model now falls behind CNN-28
    found = {f.name: render_finding(f) for f in
             SECTIONS["param-count"].findings(param_count.Config(), param_count.Result(0, frame))}
    assert "the over-fitting regime" in found["over-fitting"]


def test_grad_norm_finds_the_noise_floor_and_the_spike_as_the_loss_leaves_its_plateau():
    n = 200
    epochs = np.arange(n)
    loss = np.where(epochs < 100, 1.0, 0.01) + 0.001 * np.sin(epochs)  # a plateau, then a drop at epoch 100
    rng = np.random.default_rng(0)
    norm = 0.2 + 0.01 * rng.uniform(size=n)
    norm[98:102] = 2.0  # the norm spikes as the loss drops
    full = np.where(epochs < 100, 0.15, 0.002)  # the full gradient vanishes, the mini-batch one stays at its floor
    found = {f.name: (render_finding(f), f.claims) for f in
             SECTIONS["grad-norm"].findings(*fakes.grad_norm_result(norm, loss, full_norm=full))}
    text, claims = found["plateau-escape"]
    assert "The loss fell fastest over epochs 98–102 (1 → 0.0105)" in text  # a window of 4 epochs around epoch 101
    assert "the norm rises as the loss drops" in text and claims[0].relation == ">"
    text, claims = found["noise-floor"]
    assert "stays 1" in text and "above the full-batch one" in text and claims[0].relation == ">"
    flat = {f.name: render_finding(f) for f in
            SECTIONS["grad-norm"].findings(*fakes.grad_norm_result(norm, loss, full_norm=norm.copy()))}
    assert "indistinguishable at this scale" in flat["noise-floor"]


def test_optimization_path_calls_runs_different_only_where_their_accuracies_are():
    close = [0.630, 0.644, 0.636, 0.641, 0.633, 0.638, 0.640, 0.635]  # the full build's 8 runs: 63.0–64.4 %
    same = texts("optimization-path", fakes.optimization_path_result([0.1] * 8, close, 7.8, 17.0, 11.3))
    assert "performance indistinguishable at this scale" in same and "χ² test over 10,000 test images" in same
    apart = texts("optimization-path", fakes.optimization_path_result([0.1] * 8, close[:7] + [0.60], 7.8, 17.0, 11.3))
    assert "the seeds differ in performance as well as in weights" in apart


def test_actual_task_accuracy_axis_zooms_to_where_the_models_differ():
    cfg, res = fakes.actual_task_result([0.95, 0.96], [0.97, 0.98], plateau=2)
    acc = next(f for f in SECTIONS["actual-task"].figures(cfg, res) if f.name == "acc-MNIST")
    low, high = acc.figure.axes[0].get_ylim()
    assert 0.9 < low < 0.95 and 0.98 < high <= 1.0  # 95–98 % fill the axis, not 0.5–1
    assert "zoomed to epochs 4 onward; earlier points lie below it" in acc.caption


def test_a_paired_comparison_is_the_paired_t_test():
    from scipy import stats
    a, b = [0.30, 0.52, 0.41], [0.25, 0.49, 0.35]  # each seed's pair moves together: unpaired they overlap
    claim = rule.paired("rise", ("A", "B"), a, b)
    assert abs(claim.uncertainty["p"] - stats.ttest_rel(a, b).pvalue) < 1e-9 and claim.relation == ">"
    assert rule.compare(rule.over_seeds(a), rule.over_seeds(b)) == "≈"
    assert claim.values == {"A": np.mean(a), "B": np.mean(b), "difference": pytest.approx(np.mean(a) - np.mean(b))}
