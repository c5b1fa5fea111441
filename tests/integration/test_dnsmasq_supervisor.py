"""The dnsmasq supervisor for real: a bridge in a host namespace, a supervisor process
running inside it, guests asking for leases with busybox udhcpc and names with dig.

The supervisor runs in a small driver process (``DRIVER`` below) started with
``ip netns exec`` so that dnsmasq binds inside the namespace; the test talks to it
with one JSON line per command.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require, require_tools
from tests.integration.netns import PYTHON, REPO, Namespace, Topology

DRIVER = r"""
import asyncio, json, sys, time
from pathlib import Path
from vnetd.dnsmasq.supervisor import DnsmasqSupervisor, RestartPolicy
from vnetd.netxml import parse_network
from vnetd.paths import Paths

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

async def main():
    state = Path(sys.argv[1])
    policy = RestartPolicy(delays=(0.1, 0.2), quick_seconds=5.0,
                           max_quick_deaths=int(sys.argv[2]))
    sup = DnsmasqSupervisor(Paths(state / "etc", state / "run", state / "lib"), policy=policy)
    sup.set_exit_callback(lambda n, s: emit({"event": "exit", "name": n, "status": s}))
    sup.set_restart_callback(lambda n, p: emit({"event": "restart", "name": n, "pid": p}))
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        op, t0 = cmd["op"], time.monotonic()
        try:
            if op == "start":
                result = await sup.start(parse_network(cmd["xml"]))
            elif op == "reload":
                result = await sup.reload(parse_network(cmd["xml"]))
            elif op == "adopt":
                result = await sup.adopt(parse_network(cmd["xml"]), cmd["pid"])
            elif op == "stop":
                result = await sup.stop(cmd["name"])
            elif op == "pid":
                result = sup.pid(cmd["name"])
            elif op == "detach":
                sup.close()
                emit({"reply": None})
                return
            emit({"reply": result, "seconds": time.monotonic() - t0})
        except Exception as exc:
            emit({"error": type(exc).__name__, "message": str(exc)})

asyncio.run(main())
"""

BRIDGE = "vdbr0"
GATEWAY = "192.168.77.1"


class DriverError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Driver:
    """A supervisor living in its own process inside the host namespace."""

    def __init__(self, ns: Namespace, state: Path, *, max_quick_deaths: int = 5) -> None:
        self.proc = ns.popen(PYTHON, "-c", DRIVER, str(state), str(max_quick_deaths),
                             stdin=subprocess.PIPE, cwd=str(REPO))
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()

    def _line(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            with selectors.DefaultSelector() as sel:
                sel.register(self._fd, selectors.EVENT_READ)
                if left <= 0 or not sel.select(left):
                    raise AssertionError("driver did not answer in time")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"driver ended: {err}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def call(self, timeout: float = 30, **cmd: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            msg = self._line(deadline)
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                raise DriverError(msg["error"], msg["message"])
            else:
                self.last_seconds = float(msg.get("seconds", 0.0))
                return msg["reply"]

    def wait_event(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["event"] == kind:
                    self.events.remove(event)
                    return event
            msg = self._line(deadline)
            assert "event" in msg, f"unexpected message {msg}"
            self.events.append(msg)


def network_xml(hosts: list[tuple[str, str, str]], *, name: str = "itest",
                options: tuple[str, ...] = ()) -> str:
    host_xml = "".join(f"<host mac='{mac}' name='{hn}' ip='{ip}'/>" for mac, hn, ip in hosts)
    opts = "".join(f"<dnsmasq:option value='{o}'/>" for o in options)
    return (
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
        f"<name>{name}</name><forward mode='nat'/><bridge name='{BRIDGE}'/>"
        "<domain name='itest.example'/>"
        "<dns><host ip='192.168.77.5'><hostname>files.itest.example</hostname></host></dns>"
        f"<ip address='{GATEWAY}' netmask='255.255.255.0'><dhcp>"
        "<range start='192.168.77.100' end='192.168.77.150'/>"
        f"{host_xml}</dhcp></ip>"
        + (f"<dnsmasq:options>{opts}</dnsmasq:options>" if opts else "")
        + "</network>")


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # dnsmasq reads the hosts files as its unprivileged user: the path must be searchable,
    # which pytest's 0700 tmp_path is not.
    path = Path(tempfile.mkdtemp(prefix="vnetd-dnsmasq-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bridged(topology: Topology) -> Topology:
    require_tools("dig")
    host = topology.host
    host.run("ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
             "forward_delay", "0")
    host.run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    host.run("ip", "link", "set", BRIDGE, "up")
    return topology


def dig(ns: Namespace, name: str, *, timeout: int = 1) -> str:
    out = ns.run("dig", f"@{GATEWAY}", name, "+short", f"+time={timeout}", "+tries=1",
                 check=False, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else ""


def fd_targets(pid: int) -> set[str]:
    return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_gone(pid: int, timeout: float = 5) -> None:
    """stop() signals dnsmasq and returns; the process ends just after."""
    stopped_at = time.monotonic()
    while alive_dnsmasq(pid):
        assert time.monotonic() - stopped_at < timeout, f"dnsmasq {pid} still runs after stop"
        time.sleep(0.01)


def alive_dnsmasq(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (ProcessLookupError, FileNotFoundError):
        return False
    return Path(argv[0].decode()).name == "dnsmasq" and "Z" not in Path(
        f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]


def test_serves_restarts_reloads_and_outlives_parent(bridged: Topology, state_dir: Path) -> None:
    host = bridged.host
    dynamic = bridged.add_guest(BRIDGE)
    fixed = bridged.add_guest(BRIDGE)
    late = bridged.add_guest(BRIDGE)
    hosts = [(fixed.mac, "fixed", "192.168.77.20")]
    driver = Driver(host, state_dir)

    t0 = time.monotonic()
    pid = driver.call(op="start", xml=network_xml(hosts))
    started = driver.last_seconds
    address = dynamic.dhcp()
    first_lease = time.monotonic() - t0
    print(f"\ndnsmasq: start() returned after {started * 1000:.0f} ms; "
          f"first DHCP lease {first_lease * 1000:.0f} ms after start began")
    assert 100 <= int(address.rsplit(".", 1)[1]) <= 150
    assert fixed.dhcp() == "192.168.77.20"
    assert dig(dynamic.ns, "files.itest.example") == "192.168.77.5"
    # Unprivileged, own session, output to a file: it can outlive its parent.
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    assert os.getsid(pid) == pid
    # dnsmasq points its stdio at /dev/null once started; its log stream is our file.
    fds = fd_targets(pid)
    # No pipe of its parent (dnsmasq's own internal pipe is fine): a write to a dead
    # parent's pipe would kill it with SIGPIPE.
    assert not fd_targets(driver.proc.pid) & {t for t in fds if t.startswith("pipe:")}, fds
    assert any(target.endswith("/itest.log") for target in fds), fds
    assert "started, version" in (state_dir / "lib" / "dnsmasq" / "itest.log").read_text()
    leases = (state_dir / "lib" / "dnsmasq" / "itest.leases").read_text()
    assert dynamic.mac in leases and fixed.mac in leases

    # Killed: a new dnsmasq serves within a second.
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # A query sent before the killed process has closed its socket dies with it and costs
    # dig its whole one-second timeout; probe only once the process is a zombie or gone
    # (its command line is empty earlier, while its files are still open).
    while not exited(pid):
        assert time.monotonic() - killed_at < 5, "the killed dnsmasq is still there"
        time.sleep(0.001)
    while not dig(dynamic.ns, "files.itest.example"):
        assert time.monotonic() - killed_at < 5, "no DNS answer after the kill"
    back = time.monotonic() - killed_at
    print(f"dnsmasq: answered again {back * 1000:.0f} ms after SIGKILL")
    assert back < 1.0
    new_pid = driver.wait_event("restart")["pid"]
    assert new_pid != pid and driver.call(op="pid", name="itest") == new_pid
    # Leases survived the restart (own lease file, not a helper's).
    assert dynamic.mac in (state_dir / "lib" / "dnsmasq" / "itest.leases").read_text()

    # Reload: same process, and a host added meanwhile gets its fixed address.
    hosts.append((late.mac, "late", "192.168.77.21"))
    driver.call(op="reload", xml=network_xml(hosts))
    assert driver.call(op="pid", name="itest") == new_pid
    assert late.dhcp() == "192.168.77.21"
    assert alive_dnsmasq(new_pid)

    # The supervisor's process ends: dnsmasq keeps serving, a new supervisor adopts it.
    driver.call(op="detach")
    driver.proc.wait(timeout=10)
    time.sleep(0.2)
    assert alive_dnsmasq(new_pid)
    assert dig(dynamic.ns, "files.itest.example") == "192.168.77.5"
    second = Driver(host, state_dir)
    assert second.call(op="adopt", xml=network_xml(hosts), pid=os.getpid()) is False
    assert second.call(op="adopt", xml=network_xml(hosts), pid=new_pid) is True
    assert second.call(op="pid", name="itest") == new_pid
    second.call(op="stop", name="itest")
    wait_gone(new_pid)
    lib = state_dir / "lib" / "dnsmasq"
    assert (lib / "itest.leases").exists()
    assert not (lib / "itest.conf").exists() and not (lib / "itest.pid").exists()


def test_start_failure_reports_dnsmasq_words(bridged: Topology, state_dir: Path) -> None:
    driver = Driver(bridged.host, state_dir)
    with pytest.raises(DriverError) as err:
        driver.call(op="start", xml=network_xml([], options=("no-such-option=1",)))
    assert err.value.kind == "DnsmasqStartError"
    assert "failed to start" in err.value.message
    assert "bad option" in err.value.message or "no-such-option" in err.value.message
    assert driver.call(op="pid", name="itest") is None


def test_gives_up_after_quick_deaths(bridged: Topology, state_dir: Path) -> None:
    driver = Driver(bridged.host, state_dir, max_quick_deaths=2)
    pid = driver.call(op="start", xml=network_xml([]))
    for _ in range(2):
        os.kill(pid, signal.SIGKILL)
        pid = driver.wait_event("restart")["pid"]
    os.kill(pid, signal.SIGKILL)
    event = driver.wait_event("exit")
    assert event["name"] == "itest" and event["status"] == -signal.SIGKILL
    assert driver.call(op="pid", name="itest") is None
    driver.call(op="stop", name="itest")


def test_unsearchable_state_dir_is_a_clear_error(bridged: Topology) -> None:
    require(shutil.which("dnsmasq") is not None, "dnsmasq")
    private = Path(tempfile.mkdtemp(prefix="vnetd-dnsmasq-private-"))  # mode 0700
    try:
        driver = Driver(bridged.host, private)
        with pytest.raises(DriverError) as err:
            driver.call(op="start", xml=network_xml([]))
        assert err.value.kind == "Failed"
        assert "cannot enter" in err.value.message and str(private) in err.value.message
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_stop_returns_at_sigterm_and_a_restart_waits_for_the_exit(bridged: Topology,
                                                                  state_dir: Path) -> None:
    """stop() returns once dnsmasq has its SIGTERM (the kernel's teardown of the process
    runs on); a start right after waits for that exit, and nothing is left behind."""
    driver = Driver(bridged.host, state_dir)
    for _ in range(3):
        first = driver.call(op="start", xml=network_xml([]))
        driver.call(op="stop", name="itest")
        second = driver.call(op="start", xml=network_xml([]))
        assert second != first and alive_dnsmasq(second)
        assert not alive_dnsmasq(first)
        assert not Path(f"/proc/{first}").exists()  # reaped, not a zombie
        driver.call(op="stop", name="itest")
    deadline = time.monotonic() + 5
    while alive_dnsmasq(second) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive_dnsmasq(second)
    assert driver.call(op="pid", name="itest") is None
    lib = state_dir / "lib" / "dnsmasq"
    assert not (lib / "itest.conf").exists() and not (lib / "itest.pid").exists()


def test_adopting_the_process_it_already_watches_keeps_it(bridged: Topology,
                                                          state_dir: Path) -> None:
    """A drift repair adopts the network's dnsmasq again: the watched process goes on
    serving, untouched (taking it over used to stop it first: it ended, and a
    supervised restart followed)."""
    client = bridged.add_guest(BRIDGE)
    driver = Driver(bridged.host, state_dir)
    pid = driver.call(op="start", xml=network_xml([]))
    assert driver.call(op="adopt", xml=network_xml([]), pid=pid) is True
    time.sleep(0.5)  # a restart comes 0.1 s after a death under this policy
    assert alive_dnsmasq(pid)
    assert driver.call(op="pid", name="itest") == pid
    assert client.dhcp()  # served by the same process
    assert dig(client.ns, "files.itest.example") == "192.168.77.5"
    log = (state_dir / "lib" / "dnsmasq" / "itest.log").read_text()
    assert "exiting on receipt of SIGTERM" not in log
    driver.call(op="stop", name="itest")
    wait_gone(pid)
