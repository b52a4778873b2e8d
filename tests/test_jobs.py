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
    # SIGINT as a terminal delivers it, even where the tests run in a background job (whose children ignore it)
    return subprocess.Popen([sys.executable, str(ROOT / "build.py"), "--out", str(out), *args], cwd=ROOT,
                            env=os.environ | {"TQDM_DISABLE": "1"} | (env or {}), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


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


def descendants(pid: int) -> list[int]:
    children = [int(c) for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    return [d for c in children for d in (c, *descendants(c))]


def wait_for_part(out: Path, label: str, timeout: float = 300) -> Path:
    """The log of the worker that holds part `label` (each says so on its first line), once it has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in (out / "jobs").glob("*_log.out") if (out / "jobs").is_dir() else []:
            if f"part {label} " in log.read_text(errors="ignore"):
                return log
        time.sleep(0.3)
    raise AssertionError(f"part {label} never started")


def test_jobs_2_gives_the_numbers_of_jobs_1_and_a_dead_worker_is_one_line_naming_its_log(tmp_path, cli):
    one, two = tmp_path / "one", tmp_path / "two"
    slow = [*FUNCTIONS, "--set", "minimal-ratio.epochs=3000"]
    proc = start(two, "--jobs", "2", *slow)
    victim = wait_for_part(two, "minimal-ratio/runs")
    for pid in descendants(int(victim.name.split("_")[0])):  # <pid>_0_log.out: the worker's shell, controller, task
        os.kill(pid, signal.SIGKILL)
    err = finish(proc)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error: part minimal-ratio/runs")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert Path(errors[0].split("its log: ")[1]).is_file()
    assert (two / "report.html").is_file()
    assert {p.parent.parent.name for p in (two / "runs").glob("*/*/result.npz")} == {"simulate", "grad-norm"}
    # every other part ran in a worker: simulate's three models and grad-norm's run, each with one of the 2 cores
    logs = [log.read_text() for log in (two / "jobs").glob("*_log.out")]
    assert sum("hw1-report: part" in t for t in logs) == 5 and all(", 1 threads" in t for t in logs if "part" in t)
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' count: a sum split over threads rounds differently from one over 1
    try:
        assert cli("--out", str(one), *slow, "--only", "simulate,grad-norm").returncode == 0
    finally:
        torch.set_num_threads(threads)
    for exp_id in ("simulate", "grad-norm"):
        a, b = result_arrays(one, exp_id), result_arrays(two, exp_id)
        assert a.keys() == b.keys()
        for name in a:
            assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), (exp_id, name)
    again = cli("--out", str(two), *slow)
    assert again.returncode == 0, again.stderr
    assert set(re.findall(r"^running (\S+)", again.stderr, re.M)) == {"minimal-ratio"}


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
    slow = [*FUNCTIONS, "--set", "minimal-ratio.epochs=3000"]
    proc = start(out, "--jobs", "2", *slow)
    wait_for_part(out, "minimal-ratio/runs")  # the last part to start: the others are stored or running
    proc.send_signal(signal.SIGINT)
    err = finish(proc, 60)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err and "interrupted:" in err
    time.sleep(1)
    assert workers_of(out) == []
    stored = {p.parent.parent.name for p in (out / "runs").glob("*/*/result.npz")}
    assert "minimal-ratio" not in stored
    again = cli("--out", str(out), *slow)
    assert again.returncode == 0, again.stderr
    assert set(re.findall(r"^running (\S+)", again.stderr, re.M)) == {"simulate", "grad-norm", "minimal-ratio"} - stored


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
    for log in (out / "jobs").glob("*_log.out"):
        ids |= set(re.findall(r"job_id=(\d+(?:_\d+)?),", log.read_text(errors="ignore")))
    return ids


def test_parts_run_as_slurm_jobs_a_cancelled_one_fails_in_one_line_and_the_rerun_submits_only_it(slurm, tmp_path,
                                                                                                  cli):
    out = tmp_path / "out"
    slow = [*SLURM, *FUNCTIONS, "--set", "minimal-ratio.epochs=3000"]
    proc = start(out, *slow)
    victim = wait_for_part(out, "minimal-ratio/runs")
    subprocess.run(["scancel", victim.name.split("_0_log")[0]], check=True, env=slurm.env())  # <array job>_<index>
    err = finish(proc)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error: part minimal-ratio/runs")]
    assert len(errors) == 1 and "its log: " in errors[0] and "Traceback" not in err, err
    assert (out / "report.html").is_file()
    assert {p.parent.parent.name for p in (out / "runs").glob("*/*/result.npz")} == {"simulate", "grad-norm"}
    ids = slurm_job_ids(out)
    assert len(ids) == 5 and all("_" in i for i in ids)  # simulate's three models, grad-norm's run and minimal-ratio's, as elements of job arrays
    shown = subprocess.run(["scontrol", "show", "job", next(iter(ids)).split("_")[0]], capture_output=True, text=True,
                           env=slurm.env()).stdout
    assert "JobName=hw1-report" in shown
    again = cli("--out", str(out), *slow)
    assert again.returncode == 0, again.stderr
    assert "submitted 1 part to Slurm" in again.stderr and len(slurm_job_ids(out)) == 6


def test_a_part_whose_code_changed_since_the_build_started_refuses_to_run(tmp_path):
    """A worker imports the code as it is when it starts: a part computed by edited code would be stored under the key
    of the code the build started with."""
    from hw1core.experiments import grad_norm
    from hw1core.fingerprint import code_fingerprint
    from hw1core.settings import resolve
    cfg = resolve("grad-norm", grad_norm.Config, "quick", {"train.epochs": "2"})
    (part,) = grad_norm.parts(cfg)
    job = lambda code: jobs.PartJob("grad-norm", "k", part, str(tmp_path), None, "cpu", {}, (grad_norm.__name__, code))
    with pytest.raises(RuntimeError, match="changed after the build started"):
        job("the fingerprint of other code")()
    assert not list(tmp_path.rglob("*.npz"))
    job(code_fingerprint(grad_norm.__name__))()
    assert len(list(tmp_path.rglob("*.npz"))) == 1
