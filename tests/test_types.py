"""The contract between computing and reporting is checked by a type checker, before anything trains."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mypy(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(root / ".mypy_cache"), "hw1core", "report", "build.py"],
                          cwd=root, capture_output=True, text=True, timeout=600)


def test_the_project_type_checks():
    proc = mypy(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_renamed_result_field_is_a_type_error_in_the_section_that_reads_it(tmp_path):
    for folder in ("hw1core", "report"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "build.py", tmp_path)
    path = tmp_path / "hw1core" / "experiments" / "grad_norm.py"
    text = path.read_text()
    assert "    step_loss: Annotated" in text
    path.write_text(text.replace("    step_loss: Annotated", "    batch_loss: Annotated"))
    proc = mypy(tmp_path)
    assert proc.returncode == 1 and 'report/sections/grad_norm.py' in proc.stdout and '"step_loss"' in proc.stdout, \
        proc.stdout
