import pytest
import numpy as np

from fakes import simulate_result
from hw1core import engine
from report.document import Section, document
from report.outputs import Finding, Question
from report import training
from report.sections import simulate as simulate_view
from report.format import fmt_number, render_finding
from report.render import render_html


def simulate_findings(losses: dict[str, float], spread: float = 0.1) -> list[Finding]:
    return simulate_view.findings(*simulate_result(list(losses), list(losses.values()), spread=spread))


def test_number_formats():
    assert fmt_number(1234567) == "1,234,567"
    assert fmt_number(0.000123456, "sig") == "0.000123"
    assert fmt_number(0.9312, "pct") == "93.1%"
    assert fmt_number(float("nan")) == "n/a"
    assert fmt_number(3.14159, "ratio") == "3.14×"
    assert fmt_number(31.4159, "ratio") == "31×"


def test_simulate_finding_names_the_measured_best_model():
    first = simulate_findings({"MLP-deep": 0.02, "MLP-middle": 0.01, "MLP-shallow": 0.04})[0]
    assert first.values["best"] == "MLP-middle"
    assert [(c.subjects, c.relation) for c in first.claims] == [(("MLP-middle", "MLP-deep"), "<"),
                                                                (("MLP-middle", "MLP-shallow"), "<")]
    text = render_finding(first)
    assert "MLP-middle" in text and "clearly below MLP-deep (0.02 ± 0.001" in text and "contrary" in text


def test_simulate_calls_models_inside_the_seeds_spread_indistinguishable():
    first = simulate_findings({"MLP-deep": 0.011, "MLP-middle": 0.010, "MLP-shallow": 0.04}, spread=0.3)[0]
    text = render_finding(first)
    assert [c.relation for c in first.claims] == ["≈", "<"]
    assert "indistinguishable at this scale from MLP-deep" in text and "clearly below MLP-shallow" in text
    assert "contrary" not in text and "cannot say whether the deepest model" in text


def test_simulate_finding_agrees_with_expectation_when_deep_wins():
    first = simulate_findings({"MLP-deep": 0.01, "MLP-middle": 0.02, "MLP-shallow": 0.04})[0]
    assert "the deepest model fitted best" in render_finding(first)


def test_settled_epoch_finds_where_a_curve_settles():
    """1 + 9·e^(−t/50) comes within 10 % of its plateau (1) where 9·e^(−t/50) = 0.1, at t = 50·ln 90 ≈ 225; noise of
    ±2 % and an Adam-like spike late in training must not move the answer."""
    t = np.arange(2000)
    rng = np.random.default_rng(0)
    curve = (1 + 9 * np.exp(-t / 50)) * (1 + 0.02 * rng.uniform(-1, 1, len(t)))
    curve[1500:1505] *= 30
    epoch = training.settled_epoch(curve)
    assert epoch is not None and abs(epoch - (50 * np.log(90) + 1)) <= 12  # a running median over 20 epochs lags
    assert training.settled_epoch(np.full(100, 0.3)) == 1


def test_a_curve_still_falling_or_cut_short_has_not_settled():
    assert training.settled_epoch(np.exp(-np.arange(1000) / 100)) is None  # falls by e every 100 epochs to the end
    broken = 1 + np.exp(-np.arange(1000) / 50)
    broken[-10:] = np.nan  # a run that diverged
    assert training.settled_epoch(broken) is None


def test_a_run_at_chance_failed_to_train_and_one_that_learned_did_not():
    assert training.failed_to_train(np.log(10) + 0.002, 0.1)  # sensitivity's lr 0.1 run: a constant predictor
    assert training.failed_to_train(float("nan"), 0.0)  # diverged
    assert not training.failed_to_train(1.2, 0.58)
    assert not training.failed_to_train(2.25, 0.21)  # slow, but above chance: it learned something
    assert training.failed_to_train(np.log(2), 0.52, classes=2)  # a coin flip on two classes

def test_template_escapes_every_value(monkeypatch):
    cfg, res = simulate_result(["MLP-deep", "MLP-middle"], [0.01, 0.02])
    monkeypatch.setattr(simulate_view, "figures", lambda c, r: [])
    monkeypatch.setattr(simulate_view, "FIGURES", ())
    monkeypatch.setattr(simulate_view, "QUESTIONS", [Question("q", "1", ["findings"])])
    monkeypatch.setattr(simulate_view, "findings", lambda c, r: [Finding("x", "{x}", {"x": "<script>alert(1)</script>"})])
    monkeypatch.setattr(simulate_view, "tables", lambda c, r: [])
    monkeypatch.setattr(simulate_view, "TABLES", ())
    info = {"profile": "quick", "generated": "now", "device": "cpu", "commit": "c", "versions": "v", "seeds": "s",
            "command": "c", "bench": None}
    html = render_html(document([Section("simulate", simulate_view, cfg, res, "run")], info))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_schedule_text_states_the_rate_the_schedule_really_ends_at():
    from report.format import schedule_text
    x, y = np.linspace(-1, 1, 8, dtype=np.float32)[:, None], np.zeros((8, 1), np.float32)
    import torch
    task = engine.Task(torch.from_numpy(x), torch.from_numpy(y), loss="mse")
    for epochs in (25, 30, 100):
        cfg = engine.TrainConfig(epochs, 8, 4e-4, step_size=10, gamma=0.1)
        last_lr = engine.train(engine.Stack("MLP-middle", [0]), task, cfg).lr[-1]  # the rate torch's StepLR set
        text = schedule_text(cfg.lr, cfg.step_size, cfg.gamma, epochs)
        assert f"last epoch runs at lr {last_lr:g}" in text
    assert "so training stops after epoch 30" in schedule_text(4e-4, 10, 0.1, 30)
    assert "stops" not in schedule_text(4e-4, 10, 0.1, 25)
    assert "its last 70 epochs, from epoch 31" in schedule_text(4e-4, 10, 0.1, 100)


def log_axis_labels(which: str, low: float, high: float, boxes: bool = False):
    """The tick labels shown inside [low, high] on a log `which` ('x' or 'y') axis after plain_log_ticks (with their
    drawn extents when `boxes`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from report.plots import plain_log_ticks
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(*(([low, high], [0, 1]) if which == "x" else ([0, 1], [low, high])))
    ax.set(**{f"{which}scale": "log", f"{which}lim": (low, high)})
    plain_log_ticks(fig)
    fig.canvas.draw()
    axis = ax.xaxis if which == "x" else ax.yaxis
    shown = [t.label1 for t in axis.get_major_ticks() + axis.get_minor_ticks()
             if low <= t.get_loc() <= high and t.label1.get_text()]
    labels = [t.get_text() for t in shown]
    extents = [t.get_window_extent() for t in shown]
    plt.close(fig)
    return (labels, extents) if boxes else labels


@pytest.mark.parametrize("low, high", [(0.655, 1.915), (0.03, 1.3), (1.05, 5.3), (0.2, 15.0), (120.0, 900.0),
                                       (2.26, 2.32)])
def test_log_axes_under_two_decades_carry_at_least_three_plain_labels(low, high):
    labels = log_axis_labels("y", low, high)
    assert len(labels) >= 3, labels
    assert all("e" not in s and "^" not in s for s in labels), labels  # plain numbers, not 3e-01 or 10^{-1}


def test_log_x_labels_over_a_decade_do_not_run_together():
    """Wide x labels such as 20000 30000 40000 ran together; past one decade only 1-2-5 steps are labelled."""
    labels, extents = log_axis_labels("x", 10_000, 425_194, boxes=True)  # param-count's parameter counts
    assert labels == ["10000", "20000", "50000", "100000", "200000"], labels
    assert all(a.x1 < b.x0 for a, b in zip(extents, extents[1:]))


def test_finding_name_parts_keep_numbers_apart_and_carry_no_dot():
    from report.outputs import name_part
    parts = [name_part(v) for v in (0.0015, 0.002, 0.001, 1e-5, 4096)]
    assert len(set(parts)) == 5 and not any("." in p for p in parts)


def test_a_bench_file_of_another_layout_is_left_out_with_a_warning(tmp_path, caplog):
    import json
    import build
    (tmp_path / "bench.json").write_text(json.dumps({"device": "cpu", "profile": "quick", "date": "d",
                                                     "rows": [{"workload": "w", "seeds_s": 1.0, "engine_s": 0.5,
                                                               "speedup": 2.0}]}))
    with caplog.at_level("WARNING", logger="hw1"):
        assert build.bench_summary(tmp_path) is None
    assert len(caplog.records) == 1 and "bench.json" in caplog.records[0].getMessage()
    row = {"workload": "w", "plain_s": 1.0, "engine_s": 0.5, "speedup": 2.0}
    (tmp_path / "bench.json").write_text(json.dumps({"device": "cpu", "profile": "quick", "date": "d", "rows": [row]}))
    assert build.bench_summary(tmp_path)["rows"] == [row]


def test_a_value_that_rounds_to_zero_is_never_minus_zero():
    assert fmt_number(-0.0) == "0" and fmt_number(-0.0001, ".1f") == "0.0" and fmt_number(-0.0004, "pct") == "0.0%"
    assert fmt_number(-0.5, ".1f") == "-0.5" and fmt_number(-0.0201, "sig") == "-0.0201"


def test_an_architecture_shown_once_is_referred_to_by_its_table_afterwards():
    from report.document import Numbering, setup_blocks
    cfg, res = simulate_result(["MLP-deep", "MLP-middle"], [0.01, 0.02])
    n = Numbering()
    first = setup_blocks(Section("simulate", simulate_view, cfg, res, "run"), n)
    assert [b["type"] for b in first] == ["setup", "architectures"] and first[1]["num"] == 2
    again = setup_blocks(Section("simulate", simulate_view, cfg, res, "run"), n)
    assert [b["type"] for b in again] == ["setup"]
    assert ("Layers", "MLP-deep: see Table 2; MLP-middle: see Table 2") in again[0]["rows"]
