"""Side-by-side benchmark of vnetd against libvirt's network driver (one command).

    .venv/bin/python -m tests.bench.run [--quick] [--only vnetd|libvirt]

Each daemon runs in its own fresh namespace pair (host + uplink) plus a guest namespace,
through the same protocol (``tests.bench.protocol``), in the same run and interleaved
phase by phase (cold starts of one, then of the other; then the start/stop cycles of
each; ...), the side that goes first alternating from phase to phase: this shared 2-CPU
machine's speed drifts over minutes, and run one whole side after the other, the drift
fell on one column. Prints the table and writes it to tests/bench/RESULTS.md. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import libvirt_side, report
from tests.bench.lab import make_guest_ns
from tests.bench.protocol import Bench, BenchConfig, Side, log
from tests.bench.vnetd_side import VnetdSide
from tests.integration.netns import make_topology

HERE = Path(__file__).resolve().parent
LOGS = Path("/var/tmp/vnetd-bench-logs")


def keep_logs(workdir: Path, dest: Path) -> None:
    """Daemon logs outlive the scratch folder, for post-mortems."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    for path in [*workdir.glob("*/*.log"), *workdir.glob("*/daemon.out")]:
        shutil.copy(path, dest / path.name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="fewer repetitions (5; 1 restart); same network counts")
    p.add_argument("--only", choices=["vnetd", "libvirt"], help="run one side only")
    p.add_argument("--reps", type=int, help="repetitions of single operations (default 20)")
    p.add_argument("--many", type=int, help="networks started in a row (default 100)")
    p.add_argument("--list-sizes", help="SMALL,LARGE defined networks for net-list "
                   "(default 50,200; LARGE >= --many >= SMALL)")
    p.add_argument("--restart-reps", type=int, help="daemon restarts (default 3)")
    p.add_argument("--rpc-batches", type=int, help="batches of D-Bus calls (default 10)")
    p.add_argument("--results", type=Path, default=HERE / "RESULTS.md",
                   help="markdown file to update (default tests/bench/RESULTS.md)")
    p.add_argument("--no-results", action="store_true", help="do not write any results file")
    p.add_argument("--json", type=Path, help="also write raw samples as JSON here")
    p.add_argument("--reuse", type=Path, metavar="JSON",
                   help="take the samples of sides not run now from an earlier --json file "
                        "(said so in the notes)")
    return p.parse_args(argv)


def config(a: argparse.Namespace) -> BenchConfig:
    cfg = BenchConfig()
    if a.quick:
        cfg.reps, cfg.restart_reps, cfg.rpc_batches = 5, 1, 3
    if a.reps is not None:
        cfg.reps = a.reps
    if a.many is not None:
        cfg.many = a.many
    if a.list_sizes:
        cfg.list_small, cfg.list_large = (int(x) for x in a.list_sizes.split(","))
    if a.restart_reps is not None:
        cfg.restart_reps = a.restart_reps
    if a.rpc_batches is not None:
        cfg.rpc_batches = a.rpc_batches
    if not cfg.list_small <= cfg.many <= cfg.list_large or cfg.list_large > 250:
        raise SystemExit("need SMALL <= --many <= LARGE <= 250")
    return cfg


SIDES: dict[str, type[Side]] = {"libvirt": libvirt_side.LibvirtSide, "vnetd": VnetdSide}


class SideRun:
    """One side's daemon, namespaces and protocol, set up for the interleaved run."""

    def __init__(self, name: str, cfg: BenchConfig, versions: dict[str, str]) -> None:
        self.name = name
        self.topo = make_topology()
        self.guest = make_guest_ns()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"vnetd-bench-{name}-"))
        self.workdir.chmod(0o755)
        self.side = SIDES[name](self.topo.host, self.workdir)
        self.failed: str | None = None
        try:
            self.side.prepare()
            versions.update(self.side.versions())
        except BaseException:
            self.close()
            raise
        self.bench = Bench(self.side, self.guest, cfg)

    def close(self) -> None:
        try:
            self.side.stop_daemon()
        finally:
            self.side.cleanup()
            self.guest.destroy()
            self.topo.destroy()
            keep_logs(self.workdir, LOGS / self.name)
            shutil.rmtree(self.workdir, ignore_errors=True)


def run_interleaved(runs: list[SideRun]) -> None:
    """Every side's phase 1, then every side's phase 2, ...; who goes first alternates.
    A side that fails is reported and left out of the phases after."""
    plans = [run.bench.phases() for run in runs]
    for index in range(max(len(plan) for plan in plans)):
        order = list(zip(runs, plans, strict=True))
        if index % 2:
            order.reverse()
        for run, plan in order:
            if run.failed is None and index < len(plan):
                try:
                    plan[index]()
                except Exception as exc:  # report the other side anyway
                    traceback.print_exc()
                    run.failed = f"{type(exc).__name__}: {str(exc)[:300]}"


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    cfg = config(a)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark makes network namespaces")
    names = [a.only] if a.only else ["libvirt", "vnetd"]
    results: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    versions: dict[str, str] = {}
    failed = False
    runs: list[SideRun] = []
    try:
        for name in names:
            if name == "libvirt" and not libvirt_side.available():
                notes.append("libvirt not installed (scripts/bench.sh installs it): "
                             "libvirt column empty")
                failed = failed or a.only == "libvirt"
                continue
            try:
                runs.append(SideRun(name, cfg, versions))
            except Exception as exc:  # report the other side anyway
                traceback.print_exc()
                notes.append(f"{name} side failed to set up: {type(exc).__name__}: "
                             f"{str(exc)[:300]}")
                failed = True
        run_interleaved(runs)
    finally:
        for run in runs:
            try:
                run.close()
            except Exception:  # the other side's clean-up still runs
                traceback.print_exc()
    for run in runs:
        if run.failed is not None:
            notes.append(f"{run.name} side failed: {run.failed}")
            failed = True
            continue
        results[run.name] = run.bench.rec.samples
        notes += run.bench.rec.notes
    if a.reuse:
        earlier = json.loads(a.reuse.read_text())
        for name, samples in earlier["samples"].items():
            if name not in results:
                results[name] = samples
                notes.append(f"{name} column from an earlier run of the same protocol on this "
                             f"machine ({a.reuse.name}), not re-measured")
    if "libvirt" in results:
        notes.append("libvirt has no D-Bus API here (libvirt-dbus not installed) and virsh is "
                     "sequential: its only RPC figure is net-dumpxml commands per second inside "
                     "one virsh session (2 RPCs each: LookupByName + GetXMLDesc).")
    table = report.render_table(report.table_rows(cfg, results))
    print(table)
    for note in notes:
        print(f"note: {note}")
    command = "scripts/bench.sh " + shlex.join(argv if argv is not None else sys.argv[1:])
    if not a.no_results:
        env = report.environment(versions)
        report.write_results(a.results, report.markdown(cfg, table, env, notes, command.strip()))
        log(f"wrote {a.results}")
    if a.json:
        a.json.write_text(json.dumps({"config": vars(cfg), "samples": results,
                                      "notes": notes}, indent=1))
    return 1 if failed else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    # A SIGTERM (kill, a CI timeout) ends the run as Ctrl-C does, through main's clean-up:
    # by default it ended the process at once and left the daemons, their buses and the
    # namespaces behind.
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
