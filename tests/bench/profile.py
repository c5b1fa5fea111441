"""Where vnetd's time goes: py-spy samples of the daemon during each benchmark step.

    .venv/bin/python -m tests.bench.profile [--many 30] [--out DIR]

Runs the vnetd side in its own namespaces (as run.py does), attaches ``py-spy record``
to the daemon for each step (start N, list, GetXMLDesc burst, destroy N, idle, restart)
and prints, per step, the functions with the most samples (inclusive and self), plus
the CLI's own cost (``-X importtime``). Needs py-spy in the venv (not a project
dependency: ``.venv/bin/python -m pip install py-spy``).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.lab import NetSpec
from tests.bench.vnetd_side import VnetdSide
from tests.integration.netns import PYTHON, REPO, make_topology

PY_SPY = str(REPO / ".venv" / "bin" / "py-spy")


def record(pid: int, out: Path, work: Callable[[], object], rate: int = 250) -> float:
    """Sample ``pid`` while ``work`` runs; return the work's wall time in ms."""
    spy = subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--format", "raw",
                            "--rate", str(rate), "--output", str(out), "--nonblocking",
                            "--idle"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    began = time.perf_counter()
    work()
    ms = (time.perf_counter() - began) * 1000
    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=30)
    return ms


def summarize(path: Path, top: int = 14) -> str:
    """Top frames of a py-spy raw (collapsed) file, excluding the idle event loop."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return "  (no samples)"
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        if "(selectors.py" in frames[-1]:
            continue  # the event loop waiting in epoll: idle, not work
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"  busy samples: {total}"]
    lines += ["  inclusive:"] + [f"    {100 * c / max(total, 1):5.1f}%  {f}"
                                 for f, c in inclusive.most_common(top)]
    lines += ["  self:"] + [f"    {100 * c / max(total, 1):5.1f}%  {f}"
                            for f, c in own.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--many", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("/var/tmp/vnetd-bench-profile"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    topo = make_topology()
    workdir = Path(tempfile.mkdtemp(prefix="vnetd-profile-"))
    workdir.chmod(0o755)
    side = VnetdSide(topo.host, workdir)
    specs = [NetSpec(i) for i in range(1, a.many + 1)]
    report: list[str] = []
    try:
        side.prepare()
        side.start_daemon()
        side.wait_ready()
        for s in specs:
            side.define(s.write(workdir / "specs"))

        def phase(name: str, work: Callable[[], object]) -> None:
            out = a.out / f"{name}.txt"
            ms = record(side.daemon_pid(), out, work)
            report.append(f"== {name}: {ms:.0f} ms\n{summarize(out)}")

        def each(fn: Callable[[str], object], names: list[str]) -> Callable[[], None]:
            def work() -> None:
                for name in names:
                    fn(name)
            return work

        names = [s.name for s in specs]
        phase("start", each(side.start, names))
        phase("list", each(lambda _n: side.list_all(), names[:10]))
        phase("rpc", lambda: side.rpc_rates(specs[0].name, 2))
        phase("destroy", each(side.destroy, names[: a.many // 2]))
        phase("idle", lambda: time.sleep(3))
        side.stop_daemon()
        # The restart itself, from the first instruction: run the daemon under py-spy.
        spy_out = a.out / "restart.txt"
        argv = [PY_SPY, "record", "--format", "raw", "--rate", "250", "--output",
                str(spy_out), "--", PYTHON, "-m", "vnetd", "--config-dir",
                str(side.daemon.config_dir), "--run-dir", str(side.daemon.run_dir),
                "--state-dir", str(side.daemon.state_dir), "--no-default-network"]
        began = time.perf_counter()
        proc = topo.host.popen(*argv, env={"DBUS_SYSTEM_BUS_ADDRESS": side.bus.address},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not side.probe():
            time.sleep(0.01)
        ms = (time.perf_counter() - began) * 1000
        time.sleep(0.3)
        # py-spy's only child is the daemon: SIGTERM it (networks stay), py-spy then ends.
        for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
            os.kill(int(child), signal.SIGTERM)
        proc.wait(timeout=30)
        report.append(f"== restart ({a.many // 2} running, under py-spy): {ms:.0f} ms\n"
                      f"{summarize(spy_out)}")
        imports = subprocess.run([PYTHON, "-X", "importtime", "-m", "vnetctl.cli", "net-list",
                                  "--all"], capture_output=True, text=True, check=False,
                                 env={"DBUS_SYSTEM_BUS_ADDRESS": side.bus.address})
        worst = sorted((line for line in imports.stderr.splitlines()
                        if line.startswith("import time:") and "|" in line
                        and line.split("|")[1].strip().isdigit()),
                       key=lambda line: -int(line.split("|")[1]))[:12]
        report.append("== vnetctl net-list imports (cumulative us)\n" + "\n".join(worst))
    finally:
        side.stop_daemon()
        side.cleanup()
        topo.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n\n".join(report)
    (a.out / "summary.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
