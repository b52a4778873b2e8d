"""The command line as a user meets it: errors are one line with a non-zero exit, builds reuse stored results."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "simulate.train.epochs=30", "--set", "simulate.seeds=2", "--set", "simulate.n_grid=50",
        "--set", "actual-task.cifar.epochs=1", "--set", "actual-task.cifar_data.n_train=256",
        "--set", "actual-task.cifar_data.n_test=128", "--set", "actual-task.mnist.epochs=1",
        "--set", "actual-task.mnist_data.n_train=500", "--set", "actual-task.mnist_data.n_test=200",
        "--set", "actual-task.cifar_models=CNN-shallow,CNN-deep",
        "--set", "optimization-path.train.epochs=3", "--set", "optimization-path.runs=3",
        "--set", "optimization-path.data.n_train=200", "--set", "optimization-path.data.n_test=100",
        "--set", "optimization-path.train.batch_size=100", "--set", "grad-norm.train.epochs=20",
        "--set", "minimal-ratio.runs=5", "--set", "minimal-ratio.epochs=50", "--set", "minimal-ratio.gn_steps=20",
        "--set", "error-surface.train.epochs=1", "--set", "error-surface.n_train=300",
        "--set", "error-surface.n_eval=100", "--set", "error-surface.grid=5", "--set", "random-labels.train.epochs=2",
        "--set", "random-labels.sizes=300", "--set", "random-labels.n_test=200"]
for _exp in ("param-count", "interpolation", "sensitivity"):
    TINY += ["--set", f"{_exp}.train.epochs=1", "--set", f"{_exp}.data.n_train=200", "--set", f"{_exp}.data.n_test=100",
             "--set", f"{_exp}.n_eval_train=100"]
TINY += ["--set", "param-count.models=CNN-21,CNN-22,CNN-23", "--set", "interpolation.n_alpha=5",
         "--set", "sensitivity.n_sens=50", "--set", "sharpness.n_sharp=50", "--set", "sharpness.ascent_steps=2",
         "--set", "sensitivity.lrs=0.1,0.001,0.00001", "--set", "sensitivity.batch_sizes=16,64,256,1024,4096"]


def build(*args, cwd=ROOT, timeout=600, env: dict | None = None):
    env = os.environ | {"TQDM_DISABLE": "1"} | (env or {})
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(proc, *words):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w in errors[0]


def test_unknown_only_lists_valid_ids(tmp_path, cli):
    assert_one_line_error(cli("--only", "nosuch", "--out", str(tmp_path)), "nosuch", "simulate", "actual-task")


def test_unknown_set_key_lists_valid_keys(tmp_path, cli):
    assert_one_line_error(cli("--set", "simulate.nosuch=1", "--out", str(tmp_path)), "nosuch", "train.epochs")


def test_unwritable_out_fails_before_training(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("--out", str(blocker / "out"))
    assert_one_line_error(proc, "--out")
    assert "running" not in proc.stderr


def test_missing_data_names_data_dir(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("--only", "actual-task", "--data-dir", str(empty), "--out", str(tmp_path / "out"), *TINY)
    assert_one_line_error(proc, "--data-dir")


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "out"
    first = build("--out", str(out), *TINY)
    assert first.returncode == 0, first.stderr
    return out, first


def test_tiny_build_writes_html_pdf_and_figures(tiny_build):
    out, first = tiny_build
    html = (out / "report.html").read_text()
    for anchor in ('id="simulate"', 'id="actual-task"', 'id="appendix"'):
        assert anchor in html
    assert "data:image/png;base64," in html and "src=\"figures/" not in html  # self-contained
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    from hw1core.experiments import REGISTRY
    for exp_id in REGISTRY:
        assert f'id="{exp_id}"' in html
    from report.sections import SECTIONS
    assert len(list((out / "figures").glob("*.png"))) == sum(len(view.FIGURES) for view in SECTIONS.values())
    assert "DRAFT" in html


def test_every_pdf_page_is_numbered(tiny_build):
    """The stylesheet's quoted strings (the page counter's "Page ", the font names) must reach the PDF unescaped."""
    from pypdf import PdfReader
    pages = PdfReader(tiny_build[0] / "report.pdf").pages
    assert len(pages) > 2
    for i, page in enumerate(pages, 1):
        assert f"Page {i} of {len(pages)}" in page.extract_text()


# Words that state a direction or an order: a sentence using one compares, and must carry its claims.
# ("above τ", "below 0.001", "the observations above" name a threshold or a place, not a comparison.)
COMPARATIVE = re.compile(r"\b(higher|lower|better|worse|rises?|falls?|grows?|grew|tracks?|indistinguishable|clearly|"
                         r"sharper|flatter|closer|further|widens|narrows|highest|lowest|best|larger|smaller|"
                         r"more than|less than|fewer|(?<!observations )(above|below)(?! ?[−-]?τ)(?! [\d.]+))\b")


def rendered_findings(html: str) -> list[str]:
    """The observation sentences of a rendered report, as plain text."""
    import html as markup
    lists = re.findall(r'<ul class="findings">(.*?)</ul>', html, re.S)
    return [markup.unescape(re.sub(r"<[^>]+>", "", li)) for block in lists for li in re.findall(r"<li>(.*?)</li>", block, re.S)]


def test_every_comparative_sentence_of_the_draft_has_its_claim(tiny_build):
    from report.claims import RELATIONS
    out = tiny_build[0]
    sentences = rendered_findings((out / "report.html").read_text())
    claims = json.loads((out / "summary.json").read_text())["claims"]
    claimed = {c["sentence"] for c in claims} | {s for c in claims for s in c.get("also", [])}
    comparative = [s for s in sentences if COMPARATIVE.search(s)]
    assert len(comparative) > 10
    assert [s for s in comparative if s not in claimed] == []
    assert claimed <= set(sentences)  # every claim is stated in the report
    assert all(c["relation"] in RELATIONS and c["experiment"] in c["id"] for c in claims)
    ids = [c["id"] for c in claims]
    assert len(ids) == len(set(ids))


def test_second_build_reuses_stored_results(tiny_build, cli):
    out, _ = tiny_build
    again = cli("--out", str(out), "--no-pdf", *TINY)
    assert again.returncode == 0, again.stderr
    assert "running" not in again.stderr
    assert again.stderr.count("stored") >= 11


def test_changed_config_reruns_only_that_experiment(tiny_build, cli):
    out, _ = tiny_build
    proc = cli("--out", str(out), "--no-pdf", *TINY, "--set", "simulate.train.epochs=31")
    assert proc.returncode == 0, proc.stderr
    assert "running simulate" in proc.stderr and "running actual-task" not in proc.stderr


def test_summary_json_has_every_experiment_with_its_headline_numbers(tiny_build):
    import json
    import math
    from hw1core.experiments import REGISTRY
    out, _ = tiny_build
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "quick" and list(summary["experiments"]) == list(REGISTRY)
    for exp_id, entry in summary["experiments"].items():
        assert entry["status"] in ("run", "stored") and entry["wall_s"] > 0, exp_id
        assert entry["steps"] > 0 or exp_id == "sharpness", exp_id  # sharpness trains nothing: its models are sensitivity's
        assert (out / "runs" / exp_id / entry["key"] / "result.npz").is_file(), exp_id  # the stored result it shows
        numbers = [v for v in entry["headline"].values() if isinstance(v, (int, float))]
        assert numbers and any(math.isfinite(v) for v in numbers), exp_id
    labels = summary["experiments"]["random-labels"]["headline"]  # the numbers its observations quote
    assert 0 < labels["labels-at-chance.lo"] <= labels["labels-at-chance.hi"] < 1
    assert labels["not-memorised.300.n"] == 300 and labels["not-memorised.300.epochs"] == 2  # 2 epochs cannot


def dry_run_rows(stdout: str) -> dict[str, list[str]]:
    """experiment -> [key, result, time] from the table --dry-run prints."""
    from hw1core.experiments import REGISTRY
    rows = {}
    for line in stdout.splitlines():
        cells = line.split(maxsplit=2)
        if cells and cells[0] in REGISTRY:
            key, rest = cells[1], cells[2]
            rows[cells[0]] = [key, rest[:36].strip(), rest[36:].strip()]
    return rows


def tiny_keys(*extra: str) -> dict[str, str]:
    """The store keys of the tiny build's settings (plus `extra` --set items), as the build computes them."""
    from hw1core import settings
    from hw1core.experiments import REGISTRY, store_keys
    items = [v for flag, v in zip(TINY[::2], TINY[1::2]) if flag == "--set"] + list(extra)
    over = settings.parse_overrides(items, REGISTRY)
    return store_keys({i: settings.resolve(i, m.Config, "quick", over.get(i, {})) for i, m in REGISTRY.items()})


def test_dry_run_shows_every_key_and_what_would_run_and_changes_nothing(tiny_build, cli):
    out, _ = tiny_build
    before = sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*"))
    proc = cli("--out", str(out), "--dry-run", *TINY, "--set", "grad-norm.train.epochs=21")
    assert proc.returncode == 0, proc.stderr
    rows, stored, changed = dry_run_rows(proc.stdout), tiny_keys(), tiny_keys("grad-norm.train.epochs=21")
    assert list(rows) == list(stored) and {k: r[0] for k, r in rows.items()} == changed
    for exp_id, (key, status, took) in rows.items():
        if exp_id == "grad-norm":
            assert key != stored[exp_id] and status == "would run (0 of 1 parts stored)" and "under an earlier key" in took
        else:
            assert key == stored[exp_id] and status == "stored" and took.endswith(" s"), exp_id
    assert sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*")) == before  # nothing written


def test_dry_run_of_an_empty_output_folder_would_run_everything_and_creates_nothing(tmp_path, cli):
    proc = cli("--out", str(tmp_path / "out"), "--dry-run", "--full", "--only", "sharpness")
    assert proc.returncode == 0, proc.stderr
    rows = dry_run_rows(proc.stdout)
    assert rows["sharpness"][1] == "would run (0 of 2 parts stored)"  # one per ε
    # what sharpness reads: 3 sweeps × 5 points × 3 seeds of models, each measured
    assert rows["sensitivity"][1] == "would run (0 of 90 parts stored)"
    assert rows["simulate"][1] == "not built (not selected)" and len({r[0] for r in rows.values()}) == 11
    assert not (tmp_path / "out").exists()


def test_render_trains_nothing_and_reuses_every_stored_result(tiny_build, cli):
    out, _ = tiny_build
    proc = cli("--out", str(out), "--render", "--no-pdf", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "running" not in proc.stderr and "not built" not in proc.stderr
    assert proc.stderr.count("stored") >= 11


def test_render_without_stored_results_names_them_in_one_line(tmp_path, cli):
    proc = cli("--out", str(tmp_path / "out"), "--render", "--no-pdf", "--quick")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("not built")]
    assert len(lines) == 1 and "simulate" in lines[0] and "sharpness" in lines[0]
    assert "running" not in proc.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("Not built yet") == 11
    assert "python build.py --quick --only simulate" in html  # the command that builds it, in this profile


STUDENT = 'title = "HW1 <b>of</b> Ada"\nauthor = "Ada <script>x()</script> Lovelace"\nstudent_id = 4242\n' \
          'course = "Deep Learning"\nrepository = "https://example.org/ada/hw1"\n'
NOTE = "Depth *helps* here.\n\n<script>alert(1)</script> and <b>bold?</b>\n"


def test_student_details_and_notes_appear_escaped_in_html_and_pdf(tiny_build, tmp_path, cli):
    from pypdf import PdfReader
    out, _ = tiny_build
    (tmp_path / "report.toml").write_text(STUDENT)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "simulate.md").write_text(NOTE)
    (tmp_path / "notes" / "simulat.md").write_text("typo")
    proc = cli("--out", str(out), "--render", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "running" not in proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "simulat.md" in line]
    assert len(warning) == 1 and warning[0].startswith("warning:") and "simulate.md" in warning[0]
    html = (out / "report.html").read_text()
    assert "<script>" not in html.split("</style>")[1] and "<b>" not in html
    assert "Ada &lt;script&gt;x()&lt;/script&gt; Lovelace" in html and "4242" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold?&lt;/b&gt;" in html
    assert "Depth <em>helps</em> here." in html
    assert html.index("Depth <em>helps</em>") < html.index('class="findings"', html.index('id="simulate"'))
    pdf = PdfReader(out / "report.pdf")
    assert pdf.metadata.title == "HW1 <b>of</b> Ada (draft)" and pdf.metadata.author == "Ada <script>x()</script> Lovelace"
    first = pdf.pages[0].extract_text()
    assert "Lovelace" in first and "4242" in first and "Deep Learning" in first
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "<script>alert(1)</script> and <b>bold?</b>" in text


@pytest.mark.parametrize("content, words", [
    ('author = "Ada"\nauthr = "x"\n', ["report.toml", "authr", "author"]),
    ('author = "Ada\n', ["report.toml", "not valid TOML"]),
    ('author = ["a", "b"]\n', ["report.toml", "author", "text"]),
])
def test_a_bad_report_toml_is_one_line_naming_the_file_and_key(tmp_path, cli, content, words):
    (tmp_path / "report.toml").write_text(content)
    proc = cli("--out", str(tmp_path / "out"), "--render", "--no-pdf", cwd=tmp_path)
    assert_one_line_error(proc, *words)
    assert proc.returncode == 2 and not (tmp_path / "out" / "report.html").exists()


def test_on_github_actions_the_time_table_goes_to_the_job_summary(tiny_build, tmp_path, cli):
    out, _ = tiny_build
    summary = tmp_path / "step_summary.md"
    proc = cli("--out", str(out), "--render", "--no-pdf", *TINY, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in summary.read_text().splitlines() if line.startswith("| ")][2:]
    from hw1core.experiments import REGISTRY
    assert [r.split("|")[1].strip() for r in rows] == [*REGISTRY, "report"]
    assert all(r.split("|")[2].strip() in ("stored", "rendered") for r in rows)
