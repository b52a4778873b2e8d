"""Where the parts of a build run, and the loop that runs them.

A part (hw1core/context.py's Part) runs in this process (`--jobs 1`), in worker processes on this machine
(`--jobs N`: submitit's LocalExecutor) or as Slurm jobs (`--slurm`: submitit's SlurmExecutor). Every way runs the
same `PartJob`, which computes one part and writes it to the store; the loop hands out the parts whose needs are
stored and, once all the parts of an experiment are stored, has the build assemble it (only the build writes an
experiment's Result).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import submitit
from tqdm.auto import tqdm

from .context import Part, RunContext
from .errors import UserError
from .fingerprint import code_fingerprint
from .store import Store

log = logging.getLogger(__name__)
# Local filesystems: a Slurm job on another node cannot see a folder on one of these.
LOCAL_FILESYSTEMS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "apfs", "hfs"}


class PartFailed(UserError):
    """A part that raised or whose job ended without storing it; the message names its log."""


@dataclass
class PartJob(submitit.helpers.Checkpointable):
    """One part of one experiment, computed and stored wherever it runs. Checkpointable: a Slurm job preempted or
    out of time is requeued and computes the part again (what it needs is already in the store)."""
    exp_id: str
    key: str
    part: Part
    out: str  # the output folder whose store it writes
    data_dir: str | None
    device: str  # "cpu", "cuda" or "auto" (CUDA where the worker has it: a Slurm node's, not the login node's)
    inputs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # (config, Result) its experiment reads
    # (module, fingerprint) of the code the part's key covers, as the build computed it when it started
    code: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.exp_id}/{self.part.name}"

    def __call__(self) -> None:
        import torch
        if os.environ.get("SUBMITIT_EXECUTOR"):  # in a worker: its log says which part it holds
            print(f"hw1-report: part {self.label} of key {self.key}, {torch.get_num_threads()} threads", flush=True)
        torch.set_float32_matmul_precision("high")
        if self.code is not None and code_fingerprint(self.code[0]) != self.code[1]:
            # a worker imports the code as it is now: computed, it would be stored under the old code's key
            raise RuntimeError(f"CodeChanged: the code of {self.code[0]} changed after the build started; run the "
                               "build again to compute under the new code's keys")
        cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        ctx = RunContext(torch.device("cuda" if cuda else "cpu"), self.data_dir, Store(Path(self.out)), self.exp_id, self.key,
                         self.inputs)
        ctx.part(self.part)


class Handle(Protocol):
    def done(self) -> bool: ...

    def failure(self) -> str | None: ...  # None once done and stored

    def cancel(self) -> None: ...


class Runner(Protocol):
    capacity: int  # parts in flight at most

    def start(self, jobs: list[PartJob]) -> list[Handle]: ...


class Finished:
    """A part computed in this process: done when start() returns."""

    def done(self) -> bool:
        return True

    def failure(self) -> str | None:
        return None

    def cancel(self) -> None:
        pass


class InProcess:
    """`--jobs 1`: each part in the build's own process, one after another (an error propagates as it is)."""
    capacity = 1

    def start(self, jobs: list[PartJob]) -> list[Handle]:
        for job in jobs:
            job()
        return [Finished() for _ in jobs]


class Submitted:
    """A part running as a submitit job."""

    def __init__(self, job: Any, label: str, queue: "SlurmQueue | None" = None):
        self.job, self.label = job, label
        self.queue = queue  # Slurm: who says whether the job is still queued or running
        self.gone_since: float | None = None
        self.lost = False

    def done(self) -> bool:
        if self.job.done():
            return True
        if self.queue is None or self.queue.has(self.job.job_id):
            self.gone_since = None
            return False
        # Out of the queue without a result: give a shared filesystem time to show the result file first.
        self.gone_since = self.gone_since or time.monotonic()
        self.lost = time.monotonic() - self.gone_since > 15
        return self.lost

    def failure(self) -> str | None:
        log_path = self.job.paths.stderr
        if self.lost:
            return f"part {self.label} failed: its Slurm job {self.job.job_id} ended without a result (cancelled " \
                   f"or killed); its log: {log_path}"
        exc = self.job.exception()
        if exc is None:
            return None
        lines = [line for line in str(exc).splitlines() if line.strip()]
        last = next((line.strip() for line in reversed(lines) if "Error" in line or "error" in line),
                    lines[-1].strip() if lines else type(exc).__name__)
        return f"part {self.label} failed ({last[:160]}); its log: {log_path}"

    def cancel(self) -> None:
        try:
            self.job.cancel(check=False)
        except Exception:  # a job that already ended
            pass


def usable_cores() -> int:
    """The cores this process may run on (its affinity: a Slurm allocation or taskset gives fewer than the machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_jobs(device: str) -> int:
    """`--jobs auto`: one worker per usable core on a CPU, one per GPU with CUDA."""
    if device == "cuda":
        import torch
        return max(1, torch.cuda.device_count())
    return usable_cores()


class LocalWorkers:
    """`--jobs N`: up to N worker processes on this machine (submitit's LocalExecutor), each with a fair share of the
    cores as its thread count, set before its interpreter starts; with GPUs, each worker is handed the least-busy
    one (one each when there are as many GPUs as workers, shared otherwise)."""

    def __init__(self, folder: Path, n: int, device: str):
        self.capacity = n
        self.threads = max(1, usable_cores() // n)
        self.gpus = self.gpu_count() if device == "cuda" else 0
        self.executor = submitit.LocalExecutor(folder=str(folder))
        self.in_use: dict[int, list[Any]] = {g: [] for g in range(self.gpus)}

    @staticmethod
    def gpu_count() -> int:
        import torch
        return torch.cuda.device_count()

    def start(self, jobs: list[PartJob]) -> list[Handle]:
        handles: list[Handle] = []
        for job in jobs:
            t = self.threads
            params: dict[str, Any] = {
                "timeout_min": 7 * 24 * 60,  # a part ends when it is done: submitit's default would stop it at 2 min
                "setup": [f"export OMP_NUM_THREADS={t} MKL_NUM_THREADS={t} TQDM_DISABLE=1"]}
            if self.gpus:
                for g, running in self.in_use.items():
                    running[:] = [j for j in running if not j.done()]
                gpu = min(self.in_use, key=lambda g: len(self.in_use[g]))
                params |= {"gpus_per_node": 1, "visible_gpus": (gpu,)}
            self.executor.update_parameters(**params)
            submitted = self.executor.submit(job)
            if self.gpus:
                self.in_use[gpu].append(submitted)
            handles.append(Submitted(submitted, job.label))
        return handles


@dataclass(frozen=True)
class SlurmOptions:
    """What each part's Slurm job asks for (`--slurm-*`)."""
    partition: str | None = None
    time_min: int = 240
    cpus: int = 2
    gpus: int = 0
    mem_gb: float = 8.0
    setup: tuple[str, ...] = ()  # shell lines before the worker starts, e.g. "module load cuda"

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"job_name": "hw1-report", "time": self.time_min, "cpus_per_task": self.cpus,
                                  "mem": f"{round(self.mem_gb * 1024)}M", "ntasks_per_node": 1,
                                  "setup": [f"export OMP_NUM_THREADS={self.cpus} TQDM_DISABLE=1", *self.setup]}
        if self.partition:
            params["partition"] = self.partition
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        return params


class SlurmQueue:
    """The jobs Slurm lists (pending, running, completing or requeued), read from squeue at most every 10 s, so that
    a cancelled job is noticed on clusters that keep no accounting (where sacct, submitit's own check, fails)."""

    def __init__(self) -> None:
        self.ids: set[str] | None = None
        self.read_at = -1e9

    def has(self, job_id: str) -> bool:
        if time.monotonic() - self.read_at > 10:
            self.read_at = time.monotonic()
            try:
                out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
                self.ids = set(out.stdout.split()) if out.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                self.ids = None
        return self.ids is None or job_id in self.ids  # when squeue cannot answer, keep waiting


class SlurmJobs:
    """`--slurm`: every part ready to run is submitted at once as one job array (submitit's SlurmExecutor)."""
    capacity = 10_000

    def __init__(self, folder: Path, options: SlurmOptions):
        if shutil.which("sbatch") is None:
            raise UserError("--slurm: sbatch is not on the PATH here; run the build on the cluster's login node")
        logging.getLogger("submitit").setLevel(logging.ERROR)  # its sacct warnings where accounting is off
        self.executor = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=3)
        self.executor.update_parameters(**options.parameters())
        self.queue = SlurmQueue()

    def start(self, jobs: list[PartJob]) -> list[Handle]:
        with self.executor.batch():
            submitted = [self.executor.submit(job) for job in jobs]
        log.info("submitted %d part%s to Slurm as job %s", len(jobs), "s" * (len(jobs) > 1),
                 submitted[0].job_id.split("_")[0] if submitted else "-")
        return [Submitted(s, job.label, self.queue) for s, job in zip(submitted, jobs)]


def filesystem_type(path: Path) -> str:
    """The type of the filesystem `path` is on, from /proc/mounts ('' where that cannot be read)."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return ""
    resolved = str(path.resolve())
    best = max((m for m in mounts if len(m) > 2 and (resolved + "/").startswith(m[1].rstrip("/") + "/")),
               key=lambda m: len(m[1]), default=None)
    return best[2] if best else ""


def warn_if_not_shared(out: Path) -> None:
    kind = filesystem_type(out)
    if kind in LOCAL_FILESYSTEMS:
        log.warning("warning: --out %s is on a local %s filesystem: Slurm jobs on other nodes cannot read or write "
                    "it. On a cluster, choose a folder on its shared filesystem (your home or project space).",
                    out, kind)


@dataclass
class Work:
    """One experiment to compute: its parts, and the experiments whose Results its parts read."""
    exp_id: str
    key: str
    parts: list[Part]
    inputs: tuple[str, ...] = ()


def run_parts(works: list[Work], store: Store, make_runner: Callable[[], Runner], make_job: Callable[[Work, Part], PartJob],
              assemble: Callable[[str], None], on_start: Callable[[str], object],
              on_stored: Callable[[str, str, float], object] = lambda exp_id, name, seconds: None) -> dict[str, str]:
    """Run every part of `works` not yet stored on the runner `make_runner()` gives (made only when a part must
    run), `runner.capacity` at a time, a part once its needs are stored and
    its experiment's inputs are assembled; `assemble(exp_id)` each experiment as soon as its parts are stored (in
    the works' order where several are ready); `on_stored(exp_id, part name, seconds)` as each part is stored.
    Returns the experiments that could not be built, with the reason."""
    path_of = lambda w, p: store.part_path(w.exp_id, w.key, p)
    owner: dict[Path, tuple[Work, Part]] = {}
    for w in works:
        for p in w.parts:
            for q in p.with_needs:
                owner.setdefault(path_of(w, q), (w, q))
    todo = [path for path in owner if not path.is_file()]
    settled = set(owner) - set(todo)  # stored: at the start or since (an assembled experiment's parts are removed)
    failed: dict[str, str] = {}  # exp_id -> why
    broken: set[Path] = set()  # parts that failed
    running: dict[Path, Handle] = {}
    began: dict[Path, float] = {}
    waiting = {w.exp_id: w for w in works}
    paths = {w.exp_id: part_paths(w, store) for w in works}
    runner: Runner = make_runner() if todo else InProcess()
    bar = tqdm(total=len(todo), desc="parts", unit="part", dynamic_ncols=True)

    def blocked(w: Work) -> bool:
        return any(i in waiting or i in failed for i in w.inputs)

    def ready(path: Path) -> bool:
        w, p = owner[path]
        wanted = any(path in paths[v.exp_id] and not blocked(v) for v in waiting.values())
        return (wanted and path not in running and path not in broken and path not in settled
                and all(path_of(w, q) in settled for q in p.needs))

    try:
        while waiting or running:  # a failed experiment's parts in flight are waited for, not left running
            finished = [path for path, handle in running.items() if handle.done()]
            for path in finished:  # before assembling: a stored experiment's parts folder is removed
                reason = running.pop(path).failure()
                if reason is None and path.is_file():
                    settled.add(path)
                    on_stored(owner[path][0].exp_id, owner[path][1].name, time.perf_counter() - began[path])
                else:
                    broken.add(path)
                    w, p = owner[path]
                    log.error("error: %s", reason or f"part {w.exp_id}/{p.name} stored nothing")
                bar.update(1)
            for exp_id, w in list(waiting.items()):  # assemble what is complete; give up on what cannot be
                if any(i in failed for i in w.inputs):
                    failed[exp_id] = "an experiment it reads was not built"
                elif not blocked(w) and all(path_of(w, p) in settled for p in w.parts):
                    assemble(exp_id)
                else:
                    stuck = [path for path in paths[exp_id] if path in broken]
                    if not stuck:
                        continue
                    failed[exp_id] = f"part {owner[stuck[0]][1].name} failed"
                del waiting[exp_id]
            starting = [path for path in todo if ready(path)][:max(0, runner.capacity - len(running))]
            if starting:
                for path in starting:
                    on_start(owner[path][0].exp_id)
                    began[path] = time.perf_counter()
                running.update(zip(starting, runner.start([make_job(*owner[path]) for path in starting])))
            elif not running:
                for exp_id in list(waiting):  # nothing runs and nothing can start: what is left waits on failed parts
                    failed.setdefault(exp_id, "a part it needs failed")
                break
            elif not finished:
                time.sleep(1.0)
            show_running(bar, running, owner)
    except BaseException:
        for handle in running.values():  # Ctrl-C or an error here: stop every worker; finished parts are stored
            handle.cancel()
        raise
    finally:
        bar.close()
    return failed


def show_running(bar: Any, running: dict[Path, Handle], owner: dict[Path, tuple[Work, Part]]) -> None:
    names = [f"{owner[p][0].exp_id}/{owner[p][1].name}" for p in running]
    bar.set_postfix_str(("running: " + ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else ""))
                        if names else "", refresh=True)


def part_paths(work: Work, store: Store) -> set[Path]:
    """Where every part of an experiment is stored, the shared models it needs included."""
    return {store.part_path(work.exp_id, work.key, q) for p in work.parts for q in p.with_needs}
