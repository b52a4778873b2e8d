"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd from Debian's slurm-wlm and munge
packages, with their configuration and state in a folder of their own. Stopped by pid when the tests end."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")


def missing() -> str | None:
    """Why a cluster cannot start here, or None."""
    absent = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} missing: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmd and munged needs root (the CI container's user)"
    return None


def node_line() -> str:
    """This machine as slurmd sees it (`slurmd -C`), without its uptime."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("NodeName="))


def config(folder: Path) -> str:
    host = socket.gethostname().split(".")[0]
    return "\n".join([
        "ClusterName=hw1test", f"SlurmctldHost={host}", "SlurmUser=root", "SlurmdUser=root",
        f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none", "JobCompType=jobcomp/none", "MpiDefault=none",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
        "ReturnToService=2", "SlurmctldTimeout=30", "SlurmdTimeout=30", "MinJobAge=300", "KillWait=5",
        node_line() + " State=UNKNOWN", "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""])


class Cluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(config(self.folder))
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:  # no munged answering yet
            self.procs.append(subprocess.Popen(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "-F", "--force"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.wait_for(lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0, "munged")
        env = self.env()
        for daemon in ("slurmctld", "slurmd"):
            self.procs.append(subprocess.Popen([f"/usr/sbin/{daemon}", "-D", "-f", str(self.conf)], env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait_for(self.node_idle, "the node to come up")

    def env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env())
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def wait_for(self, test, what: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if test():
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        logs = "".join(p.read_text()[-800:] for p in self.folder.glob("*.log"))
        self.stop()
        raise RuntimeError(f"single-node Slurm: gave up waiting for {what}\n{logs}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
