"""Interrupted builds, stale results, bad input, full disks, divergence, determinism and safety."""
import errno
import os
import re
import signal
import subprocess
import sys

import numpy as np

import build
from hw1core import store as store_module
from report.sections import sensitivity
from report.format import render_finding
from test_cli import ROOT, TINY, assert_one_line_error
from test_cli import build as run_build

SMALL = ["--only", "simulate,grad-norm,minimal-ratio", "--no-pdf", *TINY]


def ran(stderr: str) -> set[str]:
    return set(re.findall(r"^running (\S+)", stderr, re.M))


def test_sigkill_mid_build_then_rerun_reuses_finished_experiments(tmp_path, cli):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "build.py"), "--out", str(out), *SMALL], cwd=ROOT,
                            env=os.environ | {"TQDM_DISABLE": "1"}, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:  # kill as soon as the last experiment has started
        seen.append(line)
        if line.startswith("running minimal-ratio"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    again = cli("--out", str(out), *SMALL)
    assert again.returncode == 0, again.stderr
    assert ran(again.stderr) == {"minimal-ratio"}
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("*.parts"))


def test_force_reruns_only_the_named_experiment(tmp_path, cli):
    out = tmp_path / "out"
    assert cli("--out", str(out), *SMALL).returncode == 0
    forced = cli("--out", str(out), "--force", "grad-norm", *SMALL)
    assert forced.returncode == 0 and ran(forced.stderr) == {"grad-norm"}


def test_wrong_type_value_is_one_line(tmp_path, cli):
    assert_one_line_error(cli("--set", "simulate.train.epochs=lots", "--out", str(tmp_path)),
                          "simulate.train.epochs", "int")


def test_full_disk_is_one_line_and_keeps_stored_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    args = ["--out", str(out), "--only", "grad-norm", "--no-pdf", *TINY]
    assert build.main(args) == 0
    stored = sorted(p.read_bytes() for p in out.rglob("result.npz"))

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "save_record", full_disk)
    capsys.readouterr()
    assert build.main(["--out", str(out), "--only", "minimal-ratio", "--no-pdf", *TINY]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [l for l in err.splitlines() if l.startswith("error:")] == [
        l for l in err.splitlines() if "No space left on device" in l]
    assert sorted(p.read_bytes() for p in out.rglob("result.npz")) == stored
    assert not list(out.rglob("*.tmp"))


def test_same_config_and_seed_give_identical_numbers(tmp_path, cli):
    arrays = []
    for name, how in (("a", run_build), ("b", cli)):  # in another process, and in this one
        proc = how("--out", str(tmp_path / name), "--only", "grad-norm,minimal-ratio", "--no-pdf", *TINY)
        assert proc.returncode == 0, proc.stderr
        arrays.append({p.relative_to(tmp_path / name): p for p in (tmp_path / name).rglob("result.npz")})
    assert arrays[0].keys() == arrays[1].keys() and arrays[0]
    for rel, path in arrays[0].items():
        with np.load(path) as a, np.load(arrays[1][rel]) as b:
            for k in a.files:
                assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), (rel, k)


def test_diverged_runs_are_shown_as_diverged():
    from fakes import sensitivity_result
    cfg, res = sensitivity_result([0.2, 0.1, 0.05, 0.02], [0.2, 0.1, 0.05, 0.02], diverged_lr=0.1)
    table = sensitivity.tables(cfg, res)[0].frame
    lr_sweep = table[table["sweep"] == "lr"].set_index("lr")["state"]
    assert lr_sweep["0.1"] == "diverged (epoch 3)" and set(lr_sweep.drop("0.1")) == {"trained"}
    assert any("diverged (non-finite loss) in epoch 3" in render_finding(f) for f in sensitivity.findings(cfg, res))
    assert len(sensitivity.figures(cfg, res)) == 6


def test_a_run_at_chance_is_failed_and_left_out_of_the_trend():
    """sensitivity's lr 0.1 run ended at ln 10 and 10 %: a constant predictor whose near-zero sensitivity, counted,
    turns a rising trend into none. Falling sensitivities (0.2 → 0.02) over lr 1e-2 … 1e-5 rise with the rate."""
    from fakes import sensitivity_result
    cfg, res = sensitivity_result([0.2, 0.1, 0.05, 0.02], [0.2, 0.1, 0.05, 0.02], at_chance_lr=0.1)
    table = sensitivity.tables(cfg, res)[0].frame
    lr_sweep = table[table["sweep"] == "lr"].set_index("lr")["state"]
    assert lr_sweep["0.1"] == "failed to train" and set(lr_sweep.drop("0.1")) == {"trained"}
    findings = {f.name: f for f in sensitivity.findings(cfg, res)}
    assert findings["sensitivity-vs-gap.lr"].values["wa"] == "rises" and findings["sensitivity-vs-gap.lr"].values["n"] == 4 * 3
    assert "failed to train" in render_finding(findings["failed.lr.0p1.seed-0"])


def test_no_pickle_loading_anywhere():
    """Stored data is read with numpy (allow_pickle=False); any torch.load must use weights_only=True."""
    for path in list((ROOT / "hw1core").rglob("*.py")) + list((ROOT / "report").rglob("*.py")) + [ROOT / "build.py"]:
        text = path.read_text()
        assert "allow_pickle=True" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, path


def start_build(out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "build.py"), "--out", str(out), *extra, *SMALL], cwd=ROOT,
                            env=os.environ | {"TQDM_DISABLE": "1"}, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, prefix: str) -> list[str]:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError("".join(seen))


def test_one_build_per_output_folder_and_a_killed_build_leaves_no_lock(tmp_path, cli):
    out, other = tmp_path / "out", tmp_path / "other"
    first = start_build(out)
    wait_for(first, "running simulate")
    second = cli("--out", str(out), "--render", "--no-pdf", *TINY)
    assert_one_line_error(second, str(out), f"process {first.pid}")
    assert second.returncode == 2
    beside = cli("--out", str(other), "--render", "--no-pdf", *TINY)  # another folder runs side by side
    assert beside.returncode == 0, beside.stderr
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    after = cli("--out", str(out), "--render", "--no-pdf", *TINY)
    assert after.returncode == 0, after.stderr


def test_sigterm_stops_like_ctrl_c_and_the_rerun_resumes(tmp_path, cli):
    import time
    out = tmp_path / "out"
    proc = start_build(out)
    wait_for(proc, "running minimal-ratio")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in rest and "interrupted:" in rest and "rerun the same command" in rest
    assert not list(out.rglob("*.tmp"))
    again = cli("--out", str(out), *SMALL)
    assert again.returncode == 0, again.stderr
    assert ran(again.stderr) == {"minimal-ratio"}


def test_a_sweep_where_no_run_trained_still_draws():
    """A one-epoch draft can leave every run at chance: the figures mark them and keep drawing (a log axis with no
    value to scale would stop the whole report)."""
    import io
    from fakes import sensitivity_result
    cfg, res = sensitivity_result([0.2, 0.1, 0.05, 0.02], [0.2, 0.1, 0.05, 0.02])
    res.runs[["train_loss", "test_loss", "train_acc"]] = [2.31, 2.31, 0.1]
    for spec in sensitivity.figures(cfg, res):
        spec.figure.savefig(io.BytesIO(), format="png")
        assert "failed to train" in [t.get_text() for t in spec.figure.axes[0].texts]


def test_matched_training_is_claimed_only_where_the_scaled_sweep_trained_clearly_more_evenly():
    from fakes import sensitivity_result
    cfg, res = sensitivity_result([0.4, 0.3, 0.2, 0.1], [0.5, 0.4, 0.3, 0.2], seeds=3)  # the gap rises along both
    runs = res.runs
    batch, scaled = runs["sweep"] == "batch", runs["sweep"] == "scaled"
    noise = 1 + 0.02 * runs["seed"] * (runs["batch"] == 1024)  # each seed's spread a little different

    def set_losses(mask, by_batch):
        runs.loc[mask, "train_loss"] = runs.loc[mask, "batch"].map(dict(zip((16, 64, 256, 1024), by_batch))) * noise

    text = lambda: next(render_finding(f) for f in sensitivity.findings(cfg, res) if f.name == "matched-training")
    set_losses(batch, [0.5, 0.6, 0.8, 1.0])  # large batches under-fit: 2× the loss
    set_losses(scaled, [0.5, 0.55, 0.6, 0.65])
    assert "differ by up to 2.04× at one learning rate and by up to 1.33× with the rate scaled" in text()
    assert "where training is better matched" in text()
    set_losses(scaled, [0.5, 0.6, 0.8, 1.0])  # scaling changed nothing: the spreads differ by the seeds' noise only
    runs.loc[scaled, "train_loss"] *= 1 + 0.03 * (runs["seed"] == 1) * (runs["batch"] == 1024)
    assert "did not match the training measurably better" in text() and "Keskar" not in text()
    one_seed = sensitivity_result([0.4, 0.3, 0.2, 0.1], [0.5, 0.4, 0.3, 0.2], seeds=1)
    one_seed[1].runs.loc[one_seed[1].runs["sweep"] == "batch", "train_loss"] = [0.5, 0.6, 0.8, 1.0]
    one = next(render_finding(f) for f in sensitivity.findings(*one_seed) if f.name == "matched-training")
    assert "better matched" not in one and "one seed cannot tell" in one  # no spread to tell two spreads apart by


def test_a_run_that_blew_up_is_not_said_to_be_at_chance():
    from fakes import sensitivity_result
    cfg, res = sensitivity_result([0.2, 0.1, 0.05, 0.02], [0.2, 0.1, 0.05, 0.02], at_chance_lr=0.1)
    res.runs.loc[res.runs["lr"] == 0.1, ["train_loss", "train_acc"]] = [77.1, 0.12]  # the quick build's lr 0.1 run
    text = next(render_finding(f) for f in sensitivity.findings(cfg, res) if f.name == "failed.lr.0p1.seed-0")
    assert "training loss of 77.1, far above ln 10 = 2.30, and 12.0% accuracy: it failed to train" in text
    assert "at chance" not in text
