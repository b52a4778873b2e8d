"""The shipped sample in docs/full/: one full-profile build covering every experiment, as the README describes it."""
import json
import math
import re
from pathlib import Path

import pytest

from hw1core.experiments import REGISTRY
from report.sections import SECTIONS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "full"


@pytest.fixture(scope="module")
def summary() -> dict:
    return json.loads((DOCS / "summary.json").read_text(encoding="utf-8"))


def test_sample_summary_is_a_full_build_of_every_experiment(summary):
    assert summary["profile"] == "full"
    assert list(summary["experiments"]) == list(REGISTRY)
    for exp_id, entry in summary["experiments"].items():
        assert entry["status"] in ("run", "stored") and entry["profile"] == "full", exp_id
        assert entry["wall_s"] > 0 and entry["steps"] > 0 and re.fullmatch(r"[0-9a-f]{16,}", entry["key"]), exp_id
        numbers = [v for v in entry["headline"].values() if isinstance(v, (int, float))]
        assert numbers and all(math.isfinite(v) for v in numbers if not isinstance(v, bool)), exp_id


def test_sample_pdf_shows_every_experiment_built():
    from pypdf import PdfReader
    text = " ".join(page.extract_text() for page in PdfReader(DOCS / "report.pdf").pages)
    text = re.sub(r"\s+", " ", text)
    assert "Not built yet" not in text
    spelling = lambda t: t.replace("ization", "isation")  # the sample predates the report's one spelling
    for exp_id in REGISTRY:
        assert spelling(SECTIONS[exp_id].TITLE) in spelling(text), exp_id


def test_readme_wall_times_are_the_sample_summarys(summary):
    """The README's table of the full build's times is read off the committed summary, not typed from memory."""
    readme = (DOCS.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What the full build gives", 1)[1].split("\n## ", 1)[0]
    for exp_id, entry in summary["experiments"].items():
        row = re.search(rf"^\| `{re.escape(exp_id)}` \| ([0-9.]+) min \|", section, re.M)
        assert row, exp_id
        assert float(row.group(1)) == round(entry["wall_s"] / 60, 1), exp_id
