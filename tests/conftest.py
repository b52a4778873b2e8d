import logging
import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")
# No test downloads: data found nowhere is an error at once, on a machine with a network as on one without (the
# download itself is tested with the downloader replaced).
os.environ["HW1_DOWNLOAD"] = "0"


@pytest.fixture(scope="session")
def mnist():
    from hw1core import data
    return data.load_mnist()


@pytest.fixture(scope="session")
def cifar():
    from hw1core import data
    return data.load_cifar10()


@pytest.fixture
def cli(capsys, caplog, monkeypatch):
    """build.py's main() in this process: no interpreter start-up (8 s on this machine) per check. Returns its exit
    code, what it printed and the build's log lines. A build as a separate process is tested too (test_cli's
    tiny_build, test_robustness's kills)."""
    import build as build_module

    def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> SimpleNamespace:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        caplog.clear()  # each call reports its own log lines
        sigterm = signal.getsignal(signal.SIGTERM)
        with caplog.at_level(logging.INFO, logger="hw1"):
            try:
                code = build_module.main(list(args))
            finally:
                signal.signal(signal.SIGTERM, sigterm)
        printed = capsys.readouterr()
        log = "".join(f"{r.getMessage()}\n" for r in caplog.records)
        return SimpleNamespace(returncode=code, stdout=printed.out, stderr=printed.err + log)
    return run
