"""Build the HW1 report: train and analyse every experiment, then render out/report.html and out/report.pdf."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("hw1")
ROOT = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None, ids: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="experiments, in report order: " + ", ".join(ids))
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="a draft on small subsets and few epochs, minutes on a laptop CPU (default)")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="the submission at the homework's full scale (meant for one GPU)")
    p.add_argument("--only", metavar="ID[,ID...]", help="run only these experiments; the others keep their stored results")
    p.add_argument("--set", dest="sets", metavar="ID.KEY=VALUE", action="append", default=[],
                   help="override a setting, e.g. --set simulate.train.epochs=500 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="training device (default: auto)")
    p.add_argument("--data-dir", metavar="PATH", help="folder holding MNIST/raw and cifar10/ (default: search, then download)")
    p.add_argument("--no-download", action="store_true",
                   help="a data set found nowhere is an error at once, never a download")
    p.add_argument("--out", metavar="PATH", default="out", help="output folder (default: out/)")
    p.add_argument("--force", metavar="ID[,ID...]", nargs="?", const="all",
                   help="ignore stored results: all selected experiments, or only the ones named")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML report only")
    p.add_argument("--render", action="store_true",
                   help="train nothing: render the report from the stored results of this profile")
    p.add_argument("--dry-run", action="store_true",
                   help="train and write nothing: print each experiment's store key and whether it would run")
    p.add_argument("--meta", metavar="PATH", help="the student's details (default: ./report.toml, if present)")
    p.add_argument("--notes", metavar="DIR", help="the student's comments, DIR/<experiment-id>.md (default: ./notes)")
    par = p.add_argument_group("running parts at once (see the README's 'Using all your cores' and 'On a Slurm "
                               "cluster')")
    par.add_argument("--jobs", metavar="N|auto", default="1",
                     help="run up to N parts at once in worker processes on this machine; auto: one per usable core "
                          "(one per GPU with CUDA); default 1, in this process")
    par.add_argument("--slurm", action="store_true", help="submit the parts as Slurm jobs and wait for them")
    par.add_argument("--slurm-partition", metavar="NAME", help="the partition to submit to (default: the cluster's)")
    par.add_argument("--slurm-time", metavar="MIN", type=int, default=240,
                     help="time limit of each part's job in minutes (default 240; a job out of time is requeued)")
    par.add_argument("--slurm-cpus", metavar="N", type=int, default=2, help="CPUs per job (default 2)")
    par.add_argument("--slurm-gpus", metavar="N", type=int, default=0, help="GPUs per job (default 0)")
    par.add_argument("--slurm-mem", metavar="GB", type=float, default=8.0, help="memory per job in GB (default 8)")
    par.add_argument("--slurm-setup", metavar="LINE", action="append", default=[],
                     help="a shell line each job runs before the worker starts, e.g. 'module load cuda' (repeatable)")
    args = p.parse_args(argv)
    args.profile = args.profile or "quick"
    return args


def parallel_settings(args: argparse.Namespace, device: str):
    """The runner the parts go to: this process, local workers or Slurm (checked before anything runs)."""
    from hw1core import jobs
    from hw1core.errors import ConfigError
    if args.slurm:
        if args.jobs != "1":
            raise ConfigError("--jobs and --slurm exclude each other: on Slurm every part is a job of its own")
        limits = {"--slurm-time": (args.slurm_time, 1, 100_000), "--slurm-cpus": (args.slurm_cpus, 1, 4096),
                  "--slurm-gpus": (args.slurm_gpus, 0, 64), "--slurm-mem": (args.slurm_mem, 0.1, 100_000)}
        for flag, (value, lo, hi) in limits.items():
            if not lo <= value <= hi:
                raise ConfigError(f"{flag} {value:g}: outside {lo:g}–{hi:g}")
        return "slurm", jobs.SlurmOptions(args.slurm_partition, args.slurm_time, args.slurm_cpus, args.slurm_gpus,
                                          args.slurm_mem, tuple(args.slurm_setup))
    if args.jobs == "auto":
        return "local", jobs.auto_jobs(device)
    try:
        n = int(args.jobs)
    except ValueError:
        n = 0
    if not 1 <= n <= 1024:
        raise ConfigError(f"--jobs {args.jobs}: give a number of parts to run at once (1–1024) or auto")
    return ("local" if n > 1 else "inline"), n


def id_list(text: str | None, registry: dict, flag: str) -> list[str]:
    from hw1core.errors import ConfigError
    if text is None or text == "all":
        return list(registry)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry]
    if unknown or not names:
        raise ConfigError(f"{flag} {text}: unknown experiment {', '.join(unknown) or '(none)'}; valid: {', '.join(registry)}")
    return [n for n in registry if n in names]


def check_output(out: Path) -> None:
    """Fail before any training when the output folder cannot be written."""
    from hw1core.errors import OutputError
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def hold_output_lock(out: Path):
    """An exclusive lock on the output folder for as long as the returned file stays open (`with` it: the build).

    The kernel drops it when the process ends in any way, SIGKILL included, so a killed build never blocks the next.
    """
    import fcntl
    from hw1core.errors import OutputError
    handle = open(out / ".build.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise OutputError(f"--out {out}: another build (process {holder}) is using this folder; wait for it to "
                          "finish or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class Terminated(KeyboardInterrupt):
    """SIGTERM (from `timeout`, a job scheduler, a closing terminal), handled like Ctrl-C."""


def raise_terminated(signum, frame) -> None:
    raise Terminated


def cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def pick_device(name: str):
    import torch
    from hw1core.errors import ConfigError
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def device_name(device) -> str:
    import torch
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=None)  # asked once per experiment and for the appendix; one answer per build
def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return (head + (" (with uncommitted changes)" if dirty else "")) if head else "unknown (not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> str:
    import jinja2, matplotlib, numpy, pandas, sklearn, torch, torchvision, weasyprint
    libs = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "pandas": pandas.__version__,
            "matplotlib": matplotlib.__version__, "jinja2": jinja2.__version__, "weasyprint": weasyprint.__version__}
    return ", ".join(f"{k} {v}" for k, v in libs.items())


def seeds_text(configs: dict) -> str:
    """Every seed a build uses: `seed`-named settings (nested ones by their path), and seeds 0..N-1 for the
    `seeds`/`runs` counts."""
    from hw1core.settings import leaves
    parts = []
    for exp_id, cfg in configs.items():
        items = []
        for path in leaves(type(cfg)):
            v = functools.reduce(getattr, path.split("."), cfg)
            name = path.rpartition(".")[2]
            if name in ("seeds", "runs"):
                items.append(f"seeds 0–{v - 1}")
            elif "seed" in name:
                items.append(f"{path} {v}")
        if items:
            parts.append(f"{exp_id}: " + ", ".join(items))
    return "; ".join(parts)


BENCH_ROW = {"workload", "plain_s", "engine_s", "speedup"}  # what `python -m hw1core.bench` writes per row


def bench_summary(out: Path) -> dict | None:
    """The last `python -m hw1core.bench` result written into this output folder, if any and if it is one this code
    wrote (a file of an older layout, or damaged, is left out of the appendix with a warning)."""
    import json
    path = out / "bench.json"
    if not path.is_file():
        return None
    try:
        bench = json.loads(path.read_text())
        if not ({"device", "profile", "date"} <= bench.keys() and all(BENCH_ROW <= row.keys() for row in bench["rows"])):
            raise ValueError("not the fields this version writes")
        return bench
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("warning: ignoring %s (%s); rerun python -m hw1core.bench to include it", path, exc)
        return None


def run_experiment(experiment, cfg, store, key: str, device, args: argparse.Namespace, device_label: str,
                   inputs: dict, started: float, part_s: dict[str, float]):
    """Assemble one experiment from its stored parts and store its Result with the build's provenance record (its
    time counts from when the first of its parts started in this build)."""
    from hw1core.context import RunContext
    from hw1core.store import Provenance
    ctx = RunContext(device, args.data_dir, store, experiment.ID, key, inputs=inputs)
    result = experiment.run(cfg, ctx)
    provenance = Provenance(time.perf_counter() - started, device_label, git_commit(),
                            datetime.now(timezone.utc).isoformat(timespec="seconds"), dataclasses.asdict(cfg), part_s)
    store.save(experiment.ID, key, result, provenance)
    return result, provenance


def summary_json(sections: list, build_info: dict, keys: dict[str, str]) -> dict:
    """out/summary.json: per experiment its status, timing, provenance and headline numbers (the values its
    findings quote, names in the README)."""
    from hw1core.store import to_jsonable
    from report.claims import finite_or_none
    from report.document import claim_records, headline
    experiments = {}
    for s in sections:
        entry = {"status": s.status, "profile": build_info["profile"]}
        if s.result is not None:
            p = s.provenance
            entry |= {"key": keys[s.exp_id], "wall_s": p.wall_s, "steps": s.result.steps, "device": p.device,
                      "commit": p.commit, "finished": p.finished, "part_s": p.part_s,
                      "headline": headline(s.findings)}
        experiments[s.exp_id] = entry
    info = {k: build_info[k] for k in ("profile", "device", "commit", "command", "generated")}
    # JSON has no NaN: an undefined number (a one-seed error, a run that diverged) is null.
    return finite_or_none(to_jsonable(info | {"experiments": experiments, "claims": claim_records(sections)}))


def time_rows(sections: list, report_s: float) -> list[tuple[str, str, str]]:
    """(experiment, result, wall time) per experiment and for the report: the table a build prints at its end."""
    rows = [(s.exp_id, s.status, f"{s.provenance.wall_s:.1f} s" if s.provenance else "–") for s in sections]
    return rows + [("report", "rendered", f"{report_s:.1f} s")]


def write_step_summary(path: Path, profile: str, rows: list[tuple[str, str, str]]) -> None:
    lines = [f"### hw1-report, {profile} profile", "", "| experiment | result | time |", "| --- | --- | ---: |"]
    lines += [f"| {name} | {status} | {wall} |" for name, status, wall in rows]
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n")


def dry_run(profile: str, selected: list[str], forced: list[str], keys: dict[str, str], store, works: list,
            runner: tuple[str, Any]) -> int:
    """What a build would do: per experiment its key, whether it is stored or would run (with its parts already
    stored), how long it took; and where the parts would go."""
    from hw1core.experiments import REGISTRY
    from hw1core.jobs import part_paths
    paths = {w.exp_id: part_paths(w, store) for w in works}
    # a forced experiment's parts are all computed again, the shared models it uses among them
    missing = {path for w in works for path in paths[w.exp_id] if w.exp_id in forced or not path.is_file()}
    print(f"dry run of the {profile} profile: nothing is trained or written")
    print(f"  {'experiment':<19}{'key':<18}{'result':<36}time")
    for exp_id in REGISTRY:
        recorded = store.recorded(exp_id)
        mine = [p for k, p in recorded if k == keys[exp_id]]
        if mine and exp_id not in forced:
            status, took = "stored", f"{mine[0].wall_s:.1f} s"
        else:
            mine_paths = paths.get(exp_id, set())
            stored = len(mine_paths) - len(mine_paths & missing)
            status = ("would run" + (" (forced)" if exp_id in forced else f" ({stored} of {len(mine_paths)} parts stored)")
                      if exp_id in selected else "stored" if mine else "not built (not selected)")
            took = (f"{mine[0].wall_s:.1f} s" if mine else
                    f"({recorded[0][1].wall_s:.1f} s under an earlier key)" if recorded else "–")
        print(f"  {exp_id:<19}{keys[exp_id]:<18}{status:<36}{took}")
    to_run = len(missing)
    kind, setting = runner
    if kind == "slurm":
        params = ", ".join(f"{k}={v}" for k, v in setting.parameters().items())
        print(f"would submit {to_run} parts to Slurm, one job each, in job arrays of the parts ready together "
              f"({params}); logs in {store.root.parent / 'jobs'}")
    else:
        print(f"would run {to_run} parts, " + ("in this process" if kind == "inline" else
                                              f"{setting} at a time in worker processes"))
    return 0


def build(args: argparse.Namespace) -> int:
    """Plan (every setting checked, every key computed) before anything trains; then, holding the output folder,
    run or load each experiment and write the report."""
    from hw1core import settings
    from hw1core.errors import ConfigError
    from hw1core.experiments import REGISTRY, inputs_of, store_keys
    from hw1core.store import Store
    from report.student import load_details, load_notes

    if args.render and (args.force or args.only):
        raise ConfigError("--render trains nothing, so it takes neither --force nor --only")
    selected = [] if args.render else id_list(args.only, REGISTRY, "--only")
    selected = [i for i in REGISTRY if i in selected or any(i in inputs_of(s) for s in selected)]
    # --force applies to the experiments this build runs; the others keep (and show) their stored results
    args.forced = [i for i in id_list(args.force, REGISTRY, "--force") if i in selected] if args.force else []
    overrides = settings.parse_overrides(args.sets, REGISTRY)
    configs: dict[str, Any] = {i: settings.resolve(i, m.Config, args.profile, overrides.get(i, {}))
                               for i, m in REGISTRY.items()}
    for exp_id, cfg in configs.items():  # all of them: the report shows every experiment
        settings.validate(exp_id, cfg)
    # Every key now, from the code as it was imported: an edit made while the build runs must not relabel its results.
    keys = store_keys(configs)
    runner = parallel_settings(args, "cuda" if args.device == "cuda" or (args.device == "auto" and cuda_available())
                               else "cpu")
    out = Path(args.out)
    store = Store(out)
    if args.dry_run:
        unbuilt = [i for i in selected if i in args.forced or all(k != keys[i] for k, _ in store.recorded(i))]
        return dry_run(args.profile, selected, args.forced, keys, store, works_to_run(configs, keys, unbuilt), runner)
    student = load_details(Path(args.meta or "report.toml"), explicit=args.meta is not None)
    notes = load_notes(Path(args.notes or "notes"), explicit=args.notes is not None, ids=list(REGISTRY))
    check_output(out)
    with hold_output_lock(out):
        # on Slurm the parts run on the nodes' devices; the login node only assembles and renders
        device = pick_device("auto" if args.slurm else args.device)
        label = f"Slurm jobs (--device {args.device})" if args.slurm else device_name(device)
        if store.remove_temp_files():
            log.info("removed temp files left by an interrupted build")
        if args.render:
            log.info("hw1-report: rendering the %s profile from stored results", args.profile)
        else:
            log.info("hw1-report: %s profile on %s; experiments: %s", args.profile, label, ", ".join(selected))
        sections, failed = collect_sections(args, configs, keys, selected, store, device, label, notes,
                                            lambda: make_runner(runner, out, device.type, args.data_dir))
        write_report(args, sections, configs, keys, student, label)
    for exp_id, why in failed.items():
        print(f"error: {exp_id} was not built: {why}; its finished parts are stored, rerun to finish it",
              file=sys.stderr)
    return 1 if failed else 0


def make_runner(runner: tuple[str, Any], out: Path, device: str, data_dir: str | None):
    from hw1core import data, jobs
    kind, setting = runner
    if kind == "inline":
        return jobs.InProcess()
    for load in (data.load_mnist, data.load_cifar10):  # found, downloaded or decoded once, not by every worker at once
        load(data_dir)
    if kind == "local":
        return jobs.LocalWorkers(out / "jobs", setting, device)
    jobs.warn_if_not_shared(out)
    return jobs.SlurmJobs(out / "jobs", setting)


def works_to_run(configs: dict[str, Any], keys: dict[str, str], ids: list[str]) -> list:
    """The experiments `ids` as the parts scheduler sees them."""
    from hw1core.experiments import REGISTRY, inputs_of
    from hw1core.jobs import Work
    return [Work(i, keys[i], REGISTRY[i].parts(configs[i]), inputs_of(i)) for i in ids]


def collect_sections(args: argparse.Namespace, configs: dict[str, Any], keys: dict[str, str], selected: list[str],
                     store, device, label: str, notes: dict, runner) -> tuple[list, dict[str, str]]:
    """Every experiment's section in report order: run (selected and not stored, or forced), stored, or not built;
    and the experiments that failed, with the reason."""
    import torch
    from hw1core.experiments import REGISTRY, inputs_of
    from hw1core.fingerprint import code_fingerprint
    from hw1core.jobs import PartJob, run_parts
    from report.document import Section
    from report.sections import SECTIONS

    torch.set_float32_matmul_precision("high")
    results: dict[str, tuple[Any, Any, str]] = {}  # exp_id -> (Result, Provenance, status)
    for exp_id, experiment in REGISTRY.items():
        stored = None if exp_id in args.forced else store.load(exp_id, keys[exp_id], experiment.Result)
        if stored is not None:
            results[exp_id] = (*stored, "stored")
    works = works_to_run(configs, keys, [i for i in selected if i not in results])
    for w in works:
        if w.exp_id in args.forced:
            store.forget(w.exp_id, w.key, w.parts)
    started: dict[str, float] = {}  # exp_id -> when its first part started
    part_s: dict[str, dict[str, float]] = {}  # exp_id -> part name -> seconds
    inputs = lambda exp_id: {i: (configs[i], results[i][0]) for i in inputs_of(exp_id)}

    def start(exp_id: str) -> None:
        if exp_id not in started:
            started[exp_id] = time.perf_counter()
            log.info("running %s (%s)", exp_id, "forced" if exp_id in args.forced else
                     "no stored result for this config and code")

    def assemble(exp_id: str) -> None:
        start(exp_id)  # every part was stored by an earlier build: assembling is all that runs
        result, provenance = run_experiment(REGISTRY[exp_id], configs[exp_id], store, keys[exp_id], device, args,
                                            label, inputs(exp_id), started[exp_id], part_s.get(exp_id, {}))
        results[exp_id] = (result, provenance, "run")

    def job(w, part) -> PartJob:  # with the fingerprint of the code its key hashes, checked where it runs
        covered = part.module if part.shared is not None else REGISTRY[w.exp_id].__name__  # type: ignore[attr-defined]
        return PartJob(w.exp_id, w.key, part, str(store.root.parent.resolve()), args.data_dir,
                       args.device if args.slurm else device.type, inputs(w.exp_id),
                       (covered, code_fingerprint(covered)))

    failed = run_parts(works, store, runner, job,
                       assemble, start, lambda exp_id, name, seconds: part_s.setdefault(exp_id, {}).update({name: seconds}))
    sections = []
    for exp_id in REGISTRY:
        result, provenance, status = results.get(exp_id, (None, None, "not built"))
        sections.append(Section(exp_id, SECTIONS[exp_id], configs[exp_id], result, status, provenance,
                                notes.get(exp_id)))
    missing = [s.exp_id for s in sections if s.result is None]
    if missing:
        print(f"not built ({args.profile} profile, shown as such in the report): {', '.join(missing)}", file=sys.stderr)
    return sections, failed


def write_report(args: argparse.Namespace, sections: list, configs: dict[str, Any], keys: dict[str, str], student,
                 label: str) -> None:
    """out/report.html, out/summary.json and out/report.pdf, then the time table on stderr."""
    import json
    from hw1core.errors import OutputError
    from report.document import document
    from report.render import render_html, write_pdf

    out = Path(args.out)
    build_info = {"profile": args.profile, "device": label, "commit": git_commit(), "versions": versions(),
                  "seeds": seeds_text(configs), "command": "python build.py " + " ".join(sys.argv[1:]),
                  "generated": datetime.now().strftime("%Y-%m-%d %H:%M"), "bench": bench_summary(out)}
    start = time.perf_counter()
    try:
        html = render_html(document(sections, build_info, student, out / "figures"))
        (out / "report.html").write_text(html, encoding="utf-8")
        (out / "summary.json").write_text(json.dumps(summary_json(sections, build_info, keys), indent=1,
                                                     allow_nan=False),
                                          encoding="utf-8")
        if not args.no_pdf:
            write_pdf(html, out / "report.pdf")
    except OSError as exc:
        raise OutputError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    rows = time_rows(sections, time.perf_counter() - start)
    print(f"\n  {'experiment':<19}{'result':<11}    time", file=sys.stderr)
    for name, status, wall in rows:
        print(f"  {name:<19}{status:<11}{wall:>10}", file=sys.stderr)
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # GitHub Actions shows this file on the run's page
        write_step_summary(Path(os.environ["GITHUB_STEP_SUMMARY"]), args.profile, rows)
    print(f"report: {(out / 'report.html').resolve()}" + ("" if args.no_pdf else f" and {(out / 'report.pdf').resolve()}"),
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from hw1core.errors import UserError
    from hw1core.experiments import REGISTRY
    from tqdm.contrib.logging import logging_redirect_tqdm
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in ("hw1", "hw1core"):
        logging.getLogger(name).setLevel(logging.INFO)
    for name in ("weasyprint", "fontTools"):  # their progress and font chatter is not the user's business
        logging.getLogger(name).setLevel(logging.ERROR)
    args = parse_args(argv, list(REGISTRY))
    if args.no_download:  # through the environment, so that every worker process (and Slurm job) sees it too
        os.environ["HW1_DOWNLOAD"] = "0"
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        with logging_redirect_tqdm():
            return build(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted: finished experiments and runs are stored; rerun the same command to finish the rest",
              file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
