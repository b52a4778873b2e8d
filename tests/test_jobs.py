"""Parts as jobs: worker processes on this machine (--jobs N) and a real single-node Slurm (--slurm)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import slurm_cluster
from hw1core import jobs
from test_cli import ROOT, TINY, assert_one_line_error

# Experiments on the 1-D functions: no data set to load, so a worker's start is the interpreter and torch alone.
FUNCTIONS = ["--only", "simulate,grad-norm,minimal-ratio", "--no-pdf", *TINY]


def start(out: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "build.py"), "--out", str(out), *args], cwd=ROOT,
                            env=os.environ | {"TQDM_DISABLE": "1"} | (env or {}), stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    _, err = proc.communicate(timeout=timeout)
    return err


def result_arrays(out: Path, exp_id: str) -> dict[str, np.ndarray]:
    (path,) = (out / "runs" / exp_id).glob("*/result.npz")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def workers_of(out: Path) -> list[str]:
    """Processes still running a part of this output folder's jobs."""
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if str(out / "jobs") in line and "submitit" in line]


def test_jobs_auto_counts_the_cores_this_process_may_use():
    assert jobs.auto_jobs("cpu") == len(os.sched_getaffinity(0))
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert jobs.auto_jobs("cpu") == 1
    finally:
        os.sched_setaffinity(0, allowed)


def test_jobs_2_gives_the_numbers_of_jobs_1_from_worker_processes(tmp_path, cli):
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("--out", str(one), *FUNCTIONS).returncode == 0
    err = finish(start(two, "--jobs", "2", *FUNCTIONS))
    assert "error" not in err, err
    for exp_id in ("simulate", "grad-norm", "minimal-ratio"):
        a, b = result_arrays(one, exp_id), result_arrays(two, exp_id)
        assert a.keys() == b.keys()
        for name in a:
            assert np.array_equal(a[name], b[name], equal_nan=True), (exp_id, name)
    # every part ran in a worker: simulate's three models, grad-norm's run and minimal-ratio's runs
    assert len(list((two / "jobs").glob("*_log.out"))) == 5


def test_dry_run_says_where_the_parts_would_go(tmp_path, cli):
    local = cli("--out", str(tmp_path), "--dry-run", "--jobs", "2", *FUNCTIONS)
    assert local.returncode == 0 and "would run 5 parts, 2 at a time in worker processes" in local.stdout
    slurm = cli("--out", str(tmp_path), "--dry-run", "--slurm", "--slurm-partition", "gpu", "--slurm-gpus", "1",
                *FUNCTIONS)
    assert slurm.returncode == 0
    assert "would submit 5 parts to Slurm" in slurm.stdout and "partition=gpu" in slurm.stdout
    assert "gpus_per_node=1" in slurm.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args,words", [(["--jobs", "0"], ["--jobs 0"]), (["--jobs", "many"], ["--jobs many"]),
                                        (["--slurm", "--jobs", "2"], ["--jobs", "--slurm"]),
                                        (["--slurm", "--slurm-time", "0"], ["--slurm-time 0"])])
def test_bad_parallel_options_are_one_line(tmp_path, cli, args, words):
    assert_one_line_error(cli("--out", str(tmp_path), *args, *FUNCTIONS), *words)


def test_ctrl_c_stops_every_worker_and_the_rerun_runs_only_what_is_missing(tmp_path, cli):
    out = tmp_path / "out"
    slow = [*FUNCTIONS, "--set", "simulate.train.epochs=3000"]
    proc = start(out, "--jobs", "2", *slow)
    deadline = time.monotonic() + 300
    while not list((out / "runs").glob("*/*/result.npz")) and time.monotonic() < deadline:
        time.sleep(0.5)  # until one experiment is stored (grad-norm or minimal-ratio) while simulate's parts run
    proc.send_signal(signal.SIGINT)
    err = finish(proc, 60)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err and "interrupted:" in err
    time.sleep(1)
    assert workers_of(out) == []
    stored = {p.parent.parent.name for p in (out / "runs").glob("*/*/result.npz")}
    assert stored and "simulate" not in stored
    again = cli("--out", str(out), "--jobs", "2", *slow)
    assert again.returncode == 0, again.stderr
    assert set(re.findall(r"^running (\S+)", again.stderr, re.M)) == {"simulate", "grad-norm", "minimal-ratio"} - stored


def test_a_worker_that_dies_is_one_line_naming_its_log_and_the_rest_is_built(tmp_path, cli):
    out = tmp_path / "out"
    proc = start(out, "--jobs", "2", *FUNCTIONS, "--set", "minimal-ratio.epochs=20000")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any("minimal-ratio" in open(p).read()
                                                  for p in (out / "jobs").glob("*_submitted.pkl")
                                                  if False) and len(workers_of(out)) < 2:
        time.sleep(0.5)
    victim = None
    while victim is None and time.monotonic() < deadline:  # the worker running minimal-ratio's part
        for log in (out / "jobs").glob("*_log.err"):
            if "minimal-ratio" in log.read_text(errors="ignore"):
                victim = log
        time.sleep(0.5)
    pid = int(victim.name.split("_")[0])
    os.kill(pid, signal.SIGKILL)
    err = finish(proc)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error: part minimal-ratio")]
    assert len(errors) == 1 and "its log: " in errors[0] and "Traceback" not in err
    assert Path(errors[0].split("its log: ")[1]).is_file()
    assert (out / "report.html").is_file()
    assert {p.parent.parent.name for p in (out / "runs").glob("*/*/result.npz")} == {"simulate", "grad-norm"}
    again = cli("--out", str(out), *FUNCTIONS)
    assert again.returncode == 0, again.stderr
    assert set(re.findall(r"^running (\S+)", again.stderr, re.M)) == {"minimal-ratio"}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = slurm_cluster.missing()
    if why:
        pytest.skip(why)
    cluster = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if saved is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = saved
    cluster.stop()


SLURM = ["--slurm", "--slurm-cpus", "1", "--slurm-mem", "1", "--slurm-time", "30"]


def slurm_job_ids(out: Path) -> set[str]:
    """The Slurm job ids the parts ran under, as each job's own log gives them."""
    ids = set()
    for log in (out / "jobs").glob("*_log.err"):
        ids |= set(re.findall(r"job_id=(\d+(?:_\d+)?)", log.read_text(errors="ignore")))
    return ids


def test_a_tiny_build_runs_its_parts_as_slurm_jobs(slurm, tmp_path, cli):
    out = tmp_path / "out"
    done = cli("--out", str(out), *SLURM, *FUNCTIONS)
    assert done.returncode == 0, done.stderr
    assert "submitted" in done.stderr and (out / "report.html").is_file()
    ids = slurm_job_ids(out)
    assert len(ids) == 5 and all("_" in i for i in ids)  # job arrays: <array job>_<index>
    shown = subprocess.run(["scontrol", "show", "job", next(iter(ids)).split("_")[0]], capture_output=True, text=True,
                           env=slurm.env()).stdout
    assert "JobName=hw1-report" in shown
    again = cli("--out", str(out), *SLURM, *FUNCTIONS)
    assert again.returncode == 0 and "submitted" not in again.stderr


def test_a_job_cancelled_mid_part_fails_in_one_line_and_the_rerun_finishes_only_it(slurm, tmp_path, cli):
    out = tmp_path / "out"
    slow = [*SLURM, *FUNCTIONS, "--set", "minimal-ratio.epochs=20000"]
    proc = start(out, *slow)
    deadline, victim = time.monotonic() + 300, None
    while victim is None and time.monotonic() < deadline:
        for log in (out / "jobs").glob("*_log.err") if (out / "jobs").is_dir() else []:
            if "minimal-ratio" in log.read_text(errors="ignore"):
                victim = log.name.split("_log")[0].rsplit("_", 1)[0]  # <array job>_<index>
        time.sleep(0.5)
    assert victim, "minimal-ratio's job never started"
    subprocess.run(["scancel", victim], check=True, env=slurm.env())
    err = finish(proc)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error: part minimal-ratio")]
    assert len(errors) == 1 and "its log: " in errors[0] and "Traceback" not in err, err
    assert {p.parent.parent.name for p in (out / "runs").glob("*/*/result.npz")} == {"simulate", "grad-norm"}
    again = cli("--out", str(out), *SLURM, *FUNCTIONS, "--set", "minimal-ratio.epochs=20000")
    assert again.returncode == 0, again.stderr
    assert "submitted 1 part to Slurm" in again.stderr
