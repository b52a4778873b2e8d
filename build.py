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
                   help="override a config value, e.g. --set simulate.epochs=500 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="training device (default: auto)")
    p.add_argument("--data-dir", metavar="PATH", help="folder holding MNIST/raw and cifar10/ (default: search, then download)")
    p.add_argument("--out", metavar="PATH", default="out", help="output folder (default: out/)")
    p.add_argument("--force", metavar="ID[,ID...]", nargs="?", const="all",
                   help="ignore stored results: all selected experiments, or only the ones named")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML report only")
    p.add_argument("--render", action="store_true",
                   help="train nothing: render the report from the stored results of this profile")
    p.add_argument("--meta", metavar="PATH", help="the student's details (default: ./report.toml, if present)")
    p.add_argument("--notes", metavar="DIR", help="the student's comments, DIR/<experiment-id>.md (default: ./notes)")
    args = p.parse_args(argv)
    args.profile = args.profile or "quick"
    return args


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
    """An exclusive lock on the output folder for as long as the returned file stays open (the whole build).

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
    """Every seed a build uses: `seed`-named fields, and seeds 0..N-1 for `seeds`/`runs` counts."""
    parts = []
    for exp_id, cfg in configs.items():
        items = []
        for f in dataclasses.fields(cfg):
            v = getattr(cfg, f.name)
            if f.name in ("seeds", "runs"):
                items.append(f"seeds 0–{v - 1}")
            elif "seed" in f.name:
                items.append(f"{f.name} {v}")
        if items:
            parts.append(f"{exp_id}: " + ", ".join(items))
    return "; ".join(parts)


def bench_summary(out: Path) -> dict | None:
    """The last `python -m hw1core.bench` result written into this output folder, if any."""
    import json
    try:
        return json.loads((out / "bench.json").read_text())
    except (OSError, ValueError):
        return None


def run_experiment(experiment, cfg, store, key: str, device, data_dir: str | None, device_label: str, force: bool,
                   fresh: set):
    """Train and analyse one experiment and store its results; returns them with timing metadata."""
    from hw1core.experiments import Context
    ctx = Context(device, data_dir, store, experiment.ID, key, force, fresh)
    start = time.perf_counter()
    results = experiment.run(cfg, ctx)
    results.meta = {"wall_s": time.perf_counter() - start, "device": device_label,
                    "steps": results.values.get("steps", 0), "config": dataclasses.asdict(cfg), "commit": git_commit(),
                    "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store.save(experiment.ID, key, results)
    return results


def summary_json(sections: list, build_info: dict, keys: dict[str, str]) -> dict:
    """out/summary.json: per experiment its status, timing, provenance and headline numbers (names in the README)."""
    from hw1core.store import to_jsonable
    experiments = {}
    for s in sections:
        m = s.meta
        entry = {"status": m["status"], "profile": build_info["profile"]}
        if s.results is not None:
            entry |= {"key": keys[s.exp_id], "wall_s": m.get("wall_s"), "steps": m.get("steps"), "device": m.get("device"),
                      "commit": m.get("commit", "unknown (stored before commits were recorded)"),
                      "finished": m.get("finished"), "headline": s.view.headline(s.results)}
        experiments[s.exp_id] = entry
    info = {k: build_info[k] for k in ("profile", "device", "commit", "command", "generated")}
    return to_jsonable(info | {"experiments": experiments})


def time_rows(sections: list, report_s: float) -> list[tuple[str, str, str]]:
    """(experiment, result, wall time) per experiment and for the report: the table a build prints at its end."""
    rows = [(s.exp_id, s.meta["status"], f"{s.meta['wall_s']:.1f} s" if "wall_s" in s.meta else "–") for s in sections]
    return rows + [("report", "rendered", f"{report_s:.1f} s")]


def write_step_summary(path: Path, profile: str, rows: list[tuple[str, str, str]]) -> None:
    lines = [f"### hw1-report, {profile} profile", "", "| experiment | result | time |", "| --- | --- | ---: |"]
    lines += [f"| {name} | {status} | {wall} |" for name, status, wall in rows]
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n")


def build(args: argparse.Namespace) -> int:
    import json
    import torch
    from tqdm.auto import tqdm
    from hw1core import config
    from hw1core.errors import ConfigError, OutputError
    from hw1core.experiments import REGISTRY, store_key
    from hw1core.store import Store
    from report.context import Section, build_context
    from report.render import render_html, write_pdf
    from report.sections import SECTIONS
    from report.student import load_meta, load_notes

    if args.render and (args.force or args.only):
        raise ConfigError("--render trains nothing, so it takes neither --force nor --only")
    selected = [] if args.render else id_list(args.only, REGISTRY, "--only")
    forced = id_list(args.force, REGISTRY, "--force") if args.force else []
    overrides = config.parse_overrides(args.sets, REGISTRY)
    configs = {i: config.resolve(m, args.profile, overrides.get(i, {})) for i, m in REGISTRY.items()}
    for exp_id, cfg in configs.items():  # all of them: the report shows every experiment
        config.validate(REGISTRY[exp_id], cfg)
    meta = load_meta(Path(args.meta or "report.toml"), explicit=args.meta is not None)
    notes = load_notes(Path(args.notes or "notes"), explicit=args.notes is not None, ids=list(REGISTRY))
    out = Path(args.out)
    check_output(out)
    lock = hold_output_lock(out)  # noqa: F841 -- held until this function returns, released by the kernel on death
    device = pick_device(args.device)
    label = device_name(device)
    torch.set_float32_matmul_precision("high")
    store = Store(out)
    if store.remove_temp_files():
        log.info("removed temp files left by an interrupted build")
    if args.render:
        log.info("hw1-report: rendering the %s profile from stored results", args.profile)
    else:
        log.info("hw1-report: %s profile on %s; experiments: %s", args.profile, label, ", ".join(selected))

    # Every key now, from the code as it was imported: an edit made while the build runs must not relabel its results.
    keys = {exp_id: store_key(experiment, configs[exp_id]) for exp_id, experiment in REGISTRY.items()}
    sections, fresh = [], set()
    bar = tqdm(list(REGISTRY.items()), desc="experiments", unit="exp", dynamic_ncols=True,
               **({"disable": True} if args.render else {}))  # else TQDM_DISABLE decides
    for exp_id, experiment in bar:
        bar.set_postfix_str(exp_id)
        cfg = configs[exp_id]
        key = keys[exp_id]
        stored = None if exp_id in forced else store.load(exp_id, key)
        if exp_id in selected and stored is None:
            reason = "forced" if exp_id in forced else "no stored result for this config and code"
            log.info("running %s (%s)", exp_id, reason)
            results = run_experiment(experiment, cfg, store, key, device, args.data_dir, label, exp_id in forced, fresh)
            status = results.meta | {"status": "run"}
        elif stored is not None:
            results, status = stored, stored.meta | {"status": "stored"}
        else:
            results, status = None, {"status": "not built"}
        sections.append(Section(exp_id, SECTIONS[exp_id], cfg, results, status, notes.get(exp_id)))
    bar.close()
    missing = [s.exp_id for s in sections if s.results is None]
    if missing:
        print(f"not built ({args.profile} profile, shown as such in the report): {', '.join(missing)}", file=sys.stderr)

    build_info = {"profile": args.profile, "device": label, "commit": git_commit(), "versions": versions(),
                  "seeds": seeds_text(configs), "command": "python build.py " + " ".join(sys.argv[1:]),
                  "generated": datetime.now().strftime("%Y-%m-%d %H:%M"), "bench": bench_summary(out)}
    start = time.perf_counter()
    try:
        html = render_html(build_context(sections, build_info, meta, out / "figures"))
        (out / "report.html").write_text(html, encoding="utf-8")
        (out / "summary.json").write_text(json.dumps(summary_json(sections, build_info, keys), indent=1), encoding="utf-8")
        if not args.no_pdf:
            write_pdf(html, out / "report.pdf")
    except OSError as exc:
        raise OutputError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    report_s = time.perf_counter() - start

    rows = time_rows(sections, report_s)
    print(f"\n  {'experiment':<19}{'result':<11}    time", file=sys.stderr)
    for name, status, wall in rows:
        print(f"  {name:<19}{status:<11}{wall:>10}", file=sys.stderr)
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # GitHub Actions shows this file on the run's page
        write_step_summary(Path(os.environ["GITHUB_STEP_SUMMARY"]), args.profile, rows)
    print(f"report: {(out / 'report.html').resolve()}" + ("" if args.no_pdf else f" and {(out / 'report.pdf').resolve()}"),
          file=sys.stderr)
    return 0


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
