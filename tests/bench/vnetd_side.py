"""vnetd under test: the real daemon on a private system-type bus, driven by vnetctl.

The bus is ``tests.integration.daemon_harness.PrivateBus`` (Debian's system.conf plus
the shipped policy), the daemon ``daemon_harness.Daemon``; the daemon logs at its
default level (info), as it would in production, not the tests' debug level.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

from tests.bench import procinfo
from tests.bench.protocol import RpcFailed, Side, run_cli
from tests.integration.daemon_harness import Daemon, PrivateBus
from tests.integration.netns import PYTHON, REPO, Namespace

VNETCTL = str(REPO / ".venv" / "bin" / "vnetctl")
FLOOR_SERVICE = str(Path(__file__).with_name("floor_service.py"))
FLOOR_LIBRARY_RUNS = 3
MANAGER = "/org/vnetd1"
MGR_IFACE = "org.vnetd1.Manager"
NET_IFACE = "org.vnetd1.Network"


class VnetdSide(Side):
    label = "vnetd"

    def __init__(self, host: Namespace, workdir: Path) -> None:
        super().__init__(host, workdir)
        self.bus = PrivateBus(workdir / "bus", host)
        self.daemon = Daemon(host, self.bus, workdir / "vnetd",
                             extra_args=["--no-default-network", "--log-level", "info"])

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address, "PATH": "/usr/sbin:/usr/bin:/bin"}

    def prepare(self) -> None:
        self.bus.directory.mkdir(parents=True, exist_ok=True)
        self.bus.directory.chmod(0o755)
        self.daemon.root.mkdir(parents=True, exist_ok=True)
        self.bus.start()

    def start_daemon(self) -> None:
        self.daemon.start(wait=False)

    def stop_daemon(self) -> None:
        proc = self.daemon.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            procinfo.wait_exit(proc, 60)
        self.daemon.stop(timeout=60)  # SIGKILL if it did not end

    def daemon_pid(self) -> int:
        assert self.daemon.process is not None
        return self.daemon.process.pid

    def probe(self) -> bool:
        proc = self.daemon.process
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"vnetd exited ({proc.returncode}):\n{self.daemon.log()[-3000:]}")
        return self._answers()

    def _answers(self) -> bool:
        return subprocess.run(
            ["busctl", f"--address={self.bus.address}", "call", "org.vnetd1", MANAGER,
             MGR_IFACE, "ListNetworks", "u", "0"], capture_output=True,
            check=False).returncode == 0

    def reference_runs(self, reps: int) -> dict[str, list[float]]:
        """The runtime floor (``floor_service.py``) started, probed, measured and stopped
        exactly as vnetd is: ``reps`` times bare, then with vnetd's libraries loaded."""
        out: dict[str, list[float]] = {}
        for rep in range(reps):
            self._floor_run(out, "floor", measure_rss=rep == reps - 1)
        for _ in range(FLOOR_LIBRARY_RUNS):
            self._floor_run(out, "floor_libs", measure_rss=True, args=["--libraries"])
        return out

    def _floor_run(self, out: dict[str, list[float]], key: str, measure_rss: bool,
                   args: list[str] | None = None) -> None:
        log = open(self.daemon.root / "floor.log", "a")  # noqa: SIM115 - handed to the child
        began = time.perf_counter()
        proc = self.host.popen(PYTHON, FLOOR_SERVICE, *(args or []),
                               env={"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address},
                               stdout=log, stderr=log)
        log.close()
        try:
            while not self._answers():
                if proc.poll() is not None or time.perf_counter() - began > 60:
                    raise RuntimeError("the floor service did not answer: "
                                       + (self.daemon.root / "floor.log").read_text()[-2000:])
                time.sleep(0.01)
            out.setdefault(f"{key}_cold_start", []).append((time.perf_counter() - began) * 1000)
            if measure_rss:
                time.sleep(1.0)
                rss = procinfo.status_kb(proc.pid) or 0
                out.setdefault(f"{key}_rss", []).append(rss / 1024)
            began = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            procinfo.wait_exit(proc, 60)
            out.setdefault(f"{key}_exit", []).append((time.perf_counter() - began) * 1000)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli([VNETCTL, *args], env=self.env)

    def define(self, xml_file: Path) -> None:
        self._ctl("net-define", str(xml_file))

    def start(self, name: str) -> None:
        self._ctl("net-start", name)

    def destroy(self, name: str) -> None:
        self._ctl("net-destroy", name)

    def undefine(self, name: str) -> None:
        self._ctl("net-undefine", name)

    def list_all(self) -> str:
        return self._ctl("net-list", "--all").stdout

    def rpc_rates(self, name: str, batches: int) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        try:
            asyncio.run(_rates(self.bus.address, name, batches, out))
        except Exception as exc:
            raise RpcFailed(out, f"{type(exc).__name__}: {exc}") from exc
        return out

    def versions(self) -> dict[str, str]:
        out = subprocess.run([PYTHON, "-c", "import vnetd; print(vnetd.__version__)"],
                             capture_output=True, text=True, check=False).stdout.strip()
        return {"vnetd": out}

    def cleanup(self) -> None:
        self.daemon.stop()
        self.bus.stop()


async def _rates(address: str, name: str, batches: int, out: dict[str, list[float]],
                 calls: int = 200, in_flight: int = 50) -> None:
    """Calls per second through dbus-fast: one at a time, and ``in_flight`` concurrent.
    Fills ``out`` as it goes, so a failure keeps what was measured before it."""
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_address=address).connect()

    async def call(path: str, iface: str, member: str, signature: str,
                   body: list[object]) -> list[object]:
        reply = await bus.call(Message(destination="org.vnetd1", path=path, interface=iface,
                                       member=member, signature=signature, body=body))
        if reply is None or reply.message_type != MessageType.METHOD_RETURN:
            raise RuntimeError(f"{member} failed: {reply.body if reply else None}")
        return list(reply.body)

    net_path = str((await call(MANAGER, MGR_IFACE, "LookupByName", "s", [name]))[0])
    # GetXMLDesc first: ListNetworks with 50 in flight has made vnetd drop off the bus.
    requests: dict[str, tuple[str, str, str, str, list[object]]] = {
        "rpc_xml_serial": (net_path, NET_IFACE, "GetXMLDesc", "u", [0]),
        "rpc_list_serial": (MANAGER, MGR_IFACE, "ListNetworks", "u", [0]),
    }
    try:
        for _ in range(batches):
            for key, req in requests.items():
                began = time.perf_counter()
                for _ in range(calls):
                    await call(*req)
                out.setdefault(key, []).append(calls / (time.perf_counter() - began))
                gate = asyncio.Semaphore(in_flight)

                async def gated(req: tuple[str, str, str, str, list[object]] = req,
                                gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await call(*req)

                began = time.perf_counter()
                await asyncio.gather(*(gated() for _ in range(calls)))
                out.setdefault(key.replace("serial", "inflight"), []).append(
                    calls / (time.perf_counter() - began))
    finally:
        bus.disconnect()
