"""Every experiment provides its compute stage and its presentation; a question's references are checked on load."""
import time
import types

import dataclasses

from hw1core.experiments import REGISTRY
from report.outputs import Question
from report.sections import PRESENTATION, SECTIONS, load_sections, reference_errors


def test_every_experiment_has_both_stages():
    assert list(SECTIONS) == list(REGISTRY)
    for exp_id, m in REGISTRY.items():
        assert m.ID == exp_id and callable(m.run)
        assert dataclasses.is_dataclass(m.Config) and m.Config.__dataclass_params__.frozen
        assert dataclasses.is_dataclass(m.Result) and "steps" in {f.name for f in dataclasses.fields(m.Result)}
    assert all(hasattr(v, n) for v in SECTIONS.values() for n in PRESENTATION)


def test_the_shipped_sections_load_in_milliseconds_without_errors():
    start = time.perf_counter()
    load_sections()
    assert all(reference_errors(i, v) == [] for i, v in SECTIONS.items())
    print(f"load_sections: {1000 * (time.perf_counter() - start):.1f} ms")


def section(**changes) -> types.SimpleNamespace:
    base = dict(vars(SECTIONS["simulate"]))
    return types.SimpleNamespace(**(base | changes))


def test_a_mistyped_figure_name_is_reported():
    bad = section(QUESTIONS=[Question("q", "1", ["setup", "fig:targets", "fig:los", "fig:predictions",
                                                 "table:summary", "findings"])])
    errors = reference_errors("simulate", bad)
    assert any("fig:los" in e and "loss" in e for e in errors)  # names the typo and the valid names
    assert any("fig:loss is answered by no question" in e for e in errors)


def test_unknown_kinds_tables_and_missing_bonus_are_reported():
    view = section(QUESTIONS=[Question("q", "1", ["setup", "figure:targets", "table:sumary", "bonus", "findings"])])
    del view.bonus
    errors = " ".join(reference_errors("simulate", view))
    assert "figure:targets" in errors and "table:sumary" in errors and "no bonus()" in errors


def test_path_labels_skip_crowded_points_but_keep_the_end():
    import numpy as np
    from report.sections.optimization_path import labelled_points
    path = np.array([[0.0, 0.0], [0.5, 0.0], [0.9, 0.0], [0.99, 0.0], [1.0, 0.0]])  # slows down near its end
    assert labelled_points(path, np.array([1.0, 1.0]), gap=0.05) == [0, 1, 2, 4]  # 0.99 would print over 1.0
    assert labelled_points(path, np.array([1.0, 1.0]), gap=0.0) == [0, 1, 2, 3, 4]
    assert labelled_points(path[:1], np.array([0.0, 0.0])) == [0]  # a single point, no extent
