"""The measurement protocol, identical for every daemon, and the rows it fills.

A *side* (``libvirt_side.LibvirtSide``, ``vnetd_side.VnetdSide``) knows how to run its
daemon and its CLI; ``Bench`` drives any side through the same steps in the same order
and records samples per row key. Client commands are one process each (exec + connect +
call), as a user or a script would run them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tests.bench import procinfo
from tests.bench.lab import GuestPort, NetSpec, PingStream, write_udhcpc_script
from tests.integration.netns import Namespace


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_cli(argv: list[str], env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


class RpcFailed(Exception):
    """A call-rate measurement broke off; ``partial`` holds what was measured."""

    def __init__(self, partial: dict[str, list[float]], message: str) -> None:
        super().__init__(message)
        self.partial = partial


class Side(ABC):
    """One daemon and its CLI, running in ``host`` (a fresh namespace)."""

    label: str

    def __init__(self, host: Namespace, workdir: Path) -> None:
        self.host = host
        self.workdir = workdir

    @abstractmethod
    def prepare(self) -> None: ...

    @abstractmethod
    def start_daemon(self) -> None:
        """Start the daemon in the background (returns at once)."""

    @abstractmethod
    def stop_daemon(self) -> None:
        """SIGTERM and wait; running networks stay up."""

    @abstractmethod
    def daemon_pid(self) -> int: ...

    @abstractmethod
    def probe(self) -> bool:
        """One cheap list request; True when the daemon answered."""

    @abstractmethod
    def define(self, xml_file: Path) -> None: ...

    @abstractmethod
    def start(self, name: str) -> None: ...

    @abstractmethod
    def destroy(self, name: str) -> None: ...

    @abstractmethod
    def undefine(self, name: str) -> None: ...

    @abstractmethod
    def list_all(self) -> str: ...

    @abstractmethod
    def rpc_rates(self, name: str, batches: int) -> dict[str, list[float]]:
        """Calls per second, one sample per batch, keyed by row."""

    @abstractmethod
    def versions(self) -> dict[str, str]: ...

    def reference_runs(self, reps: int) -> dict[str, list[float]]:
        """Samples of reference rows only this side has (vnetd: its runtime floor), taken
        while the daemon is stopped."""
        return {}

    @abstractmethod
    def cleanup(self) -> None:
        """Undo what ``prepare`` did outside the namespace."""

    def wait_ready(self, timeout: float = 300) -> float:
        began = time.perf_counter()
        while not self.probe():
            if time.perf_counter() - began > timeout:
                raise RuntimeError(f"{self.label} did not answer within {timeout}s")
            time.sleep(0.01)
        return (time.perf_counter() - began) * 1000


@dataclass
class BenchConfig:
    reps: int = 20          # define/start/destroy/undefine, lease, list
    many: int = 100         # networks started in a row, running during restart
    list_small: int = 50
    list_large: int = 200
    restart_reps: int = 3
    rpc_batches: int = 10


@dataclass
class Recorder:
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)

    def timed(self, key: str, fn: Callable[[], object]) -> float:
        began = time.perf_counter()
        fn()
        ms = (time.perf_counter() - began) * 1000
        self.add(key, ms)
        return ms


class Bench:
    def __init__(self, side: Side, guest: Namespace, cfg: BenchConfig) -> None:
        self.side, self.guest, self.cfg = side, guest, cfg
        self.rec = Recorder()
        self.specs_dir = side.workdir / "specs"
        self.udhcpc = write_udhcpc_script(side.workdir)

    def xml(self, index: int) -> Path:
        return NetSpec(index).write(self.specs_dir)

    def _start_until_dhcp(self, spec: NetSpec) -> tuple[float, float]:
        """net-start, then wait until a new DHCP socket is open in the host namespace;
        (ms until the CLI returned, ms until DHCP listens)."""
        pid = self.side.daemon_pid()
        before = procinfo.dhcp_listeners(pid)
        began = time.perf_counter()
        self.side.start(spec.name)
        returned = time.perf_counter()
        while procinfo.dhcp_listeners(pid) <= before:
            if time.perf_counter() - began > 30:
                raise RuntimeError(f"no DHCP socket for {spec.name} 30 s after start")
            time.sleep(0.0005)
        done = time.perf_counter()
        return (returned - began) * 1000, (done - began) * 1000

    def phase_cold(self) -> None:
        log(f"{self.side.label}: {self.cfg.reps} x cold start")
        for key, values in self.side.reference_runs(self.cfg.reps).items():
            for value in values:
                self.rec.add(key, value)
        for rep in range(self.cfg.reps):
            if rep:
                self.rec.timed("exit_idle", self.side.stop_daemon)
                time.sleep(0.2)
            began = time.perf_counter()
            self.side.start_daemon()
            self.side.wait_ready()
            self.rec.add("cold_start", (time.perf_counter() - began) * 1000)
        time.sleep(1.0)
        self.rec.add("rss_idle", (procinfo.status_kb(self.side.daemon_pid()) or 0) / 1024)
        for _ in range(self.cfg.reps):
            self.rec.timed("list_floor", self.side.list_all)

    def phase_cycle(self) -> None:
        log(f"{self.side.label}: {self.cfg.reps} x define/start/lease/destroy/undefine")
        spec = NetSpec(0)
        xml = self.xml(0)
        for _ in range(self.cfg.reps):
            self.rec.timed("define", lambda: self.side.define(xml))
            port = GuestPort(self.side.host, self.guest)
            cli_ms, start_ms = self._start_until_dhcp(spec)
            self.rec.add("start_cli", cli_ms)
            self.rec.add("start", start_ms)
            began = time.perf_counter()
            port.plug(spec.bridge)
            if port.lease(self.udhcpc) is None:
                self.rec.notes.append(f"{self.side.label}: no lease on {spec.bridge}")
            else:
                self.rec.add("lease", (time.perf_counter() - began) * 1000)
            port.remove()
            self.rec.timed("destroy", lambda: self.side.destroy(spec.name))
            self.rec.timed("undefine", lambda: self.side.undefine(spec.name))

    def phase_many(self) -> None:
        cfg = self.cfg
        log(f"{self.side.label}: define {cfg.list_small}, list; {cfg.many} starts in a row")
        for i in range(1, cfg.list_large + 1):
            self.xml(i)
        for i in range(1, cfg.list_small + 1):
            self.side.define(self.xml(i))
        for _ in range(cfg.reps):
            self.rec.timed("list_small", self.side.list_all)
        for i in range(cfg.list_small + 1, cfg.many + 1):
            self.side.define(self.xml(i))
        pid = self.side.daemon_pid()
        # The per-network cost is read between 10 and `many` running networks: from idle,
        # it would also count what a daemon loads once for its first network (vnetd loads
        # lxml, pyroute2 and libnftables on first use). Both figures are reported.
        first = min(10, cfg.many - 1)
        rss_first = 0.0
        for i in range(1, cfg.many + 1):
            self.rec.add("start_many", self._start_until_dhcp(NetSpec(i))[1])
            if i == first:
                time.sleep(1.0)
                rss_first = (procinfo.status_kb(pid) or 0) / 1024
        time.sleep(1.0)
        self.rec.add("rss_many", (procinfo.status_kb(pid) or 0) / 1024)
        idle = self.rec.samples["rss_idle"][0]
        self.rec.add("rss_per_net_idle",
                     (self.rec.samples["rss_many"][0] - idle) * 1024 / cfg.many)
        self.rec.add("rss_per_net",
                     (self.rec.samples["rss_many"][0] - rss_first) * 1024 / (cfg.many - first))
        dns = procinfo.memory_of(procinfo.dnsmasq_pids(self.side.host.name))
        self.rec.add("dnsmasq_pss_per_net", dns["pss_kb"] / cfg.many)
        self.rec.add("dnsmasq_procs_per_net", dns["count"] / cfg.many)
        log(f"{self.side.label}: RPC rates")
        try:
            rates = self.side.rpc_rates(NetSpec(1).name, cfg.rpc_batches)
        except RpcFailed as exc:
            rates = exc.partial
            self.rec.notes.append(f"{self.side.label}: call-rate run broke off ({exc}); "
                                  "daemon restarted to go on")
            self.side.stop_daemon()
            self.side.start_daemon()
            self.side.wait_ready()
        for key, values in rates.items():
            for v in values:
                self.rec.add(key, v)
        log(f"{self.side.label}: define up to {cfg.list_large}, list")
        for i in range(cfg.many + 1, cfg.list_large + 1):
            self.side.define(self.xml(i))
        for _ in range(cfg.reps):
            self.rec.timed("list_large", self.side.list_all)

    def phase_restart(self) -> None:
        log(f"{self.side.label}: {self.cfg.restart_reps} restarts with {self.cfg.many} running")
        spec = NetSpec(1)
        port = GuestPort(self.side.host, self.guest)
        port.plug(spec.bridge)
        if port.lease(self.udhcpc) is None:
            raise RuntimeError(f"{self.side.label}: streaming guest got no lease")
        for _ in range(self.cfg.restart_reps):
            ping = PingStream(self.guest)
            time.sleep(0.5)
            self.rec.timed("restart_stop", self.side.stop_daemon)
            began = time.perf_counter()
            self.side.start_daemon()
            self.side.wait_ready()
            self.rec.add("restart_answer", (time.perf_counter() - began) * 1000)
            sent, received = ping.stop()
            self.rec.add("restart_lost", float(sent - received))
            active = sum(1 for line in self.side.list_all().splitlines()
                         if " active " in f" {line} ")
            self.rec.add("restart_active", float(active))
        port.remove()

    def phase_teardown(self) -> None:
        cfg = self.cfg
        log(f"{self.side.label}: destroy {cfg.many}, undefine {cfg.list_large}")
        for i in range(1, cfg.many + 1):
            name = NetSpec(i).name
            self.rec.timed("destroy_many", partial(self.side.destroy, name))
        for i in range(1, cfg.list_large + 1):
            self.side.undefine(NetSpec(i).name)
        time.sleep(0.5)
        self.rec.add("leftover_dnsmasq",
                     float(len(procinfo.dnsmasq_pids(self.side.host.name))))

    def phases(self) -> list[Callable[[], None]]:
        """The protocol in order; each phase leaves the daemon where the next expects it."""
        phases = [self.phase_cold, self.phase_cycle, self.phase_many]
        if self.cfg.restart_reps > 0:
            phases.append(self.phase_restart)
        phases.append(self.phase_teardown)
        return phases

    def run(self) -> Recorder:
        for phase in self.phases():
            phase()
        return self.rec
