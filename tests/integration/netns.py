"""Network-namespace harness: a fake host, an uplink and guests, all removed afterwards.

Everything kernel-facing runs inside namespaces made here (``ip netns add``); nothing
is created in the machine's own namespace except the namespace handles themselves.
Addresses come from documentation ranges and exist only inside these namespaces.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable

UPLINK_HOST_IP = "198.51.100.1"
UPLINK_PEER_IP = "198.51.100.2"
UPLINK_PREFIX = 24
# Optional IPv6 on the same veth (make_topology(ipv6=True) / Topology.add_ipv6_uplink()).
UPLINK6_HOST_IP = "2001:db8:100::1"
UPLINK6_PEER_IP = "2001:db8:100::2"
UPLINK6_PREFIX = 64

_counter = itertools.count()


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 60,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {shlex.join(argv)}\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


@dataclass
class Namespace:
    name: str
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *argv: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and wait for it."""
        return _run([*self.prefix(), *argv], check=check, timeout=timeout, input=input)

    def sh(self, script: str, *, check: bool = True,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-c", script, check=check, timeout=timeout)

    def python(self, code: str, *args: str, check: bool = True, timeout: float = 120,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run Python code inside the namespace with the project's interpreter."""
        full_env = {**os.environ, "VNETD_TEST_GUARD": "1", **(env or {})}
        proc = subprocess.run([*self.prefix(), PYTHON, "-c", code, *args], capture_output=True,
                              text=True, timeout=timeout, env=full_env, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"python in {self.name} failed ({proc.returncode}):\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def popen(self, *argv: str, env: dict[str, str] | None = None,
              **kwargs: object) -> subprocess.Popen[str]:
        """Start a long-running process in the namespace; it is ended at teardown."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        full_env = {**os.environ, "VNETD_TEST_GUARD": "1", **(env or {})}
        proc: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
            [*self.prefix(), *argv], text=True, env=full_env, **kwargs)
        self._procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        """PIDs of every process whose network namespace is this one."""
        out = _run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(p) for p in out.split()]

    def ip_json(self, *args: str) -> object:
        import json
        return json.loads(self.run("ip", "-j", *args).stdout or "[]")

    def destroy(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=3)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        # Processes the test started inside (dnsmasq, daemons, DHCP clients) live in this
        # namespace; they are ours by construction, so ending them by PID is safe.
        for _ in range(20):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        _run(["ip", "netns", "delete", self.name], check=False)


def namespace_prefix(pid: int) -> str:
    """How the names of the namespaces a test process makes begin."""
    return f"vnt{pid % 100000}-"


def create_namespace(role: str) -> Namespace:
    name = f"{namespace_prefix(os.getpid())}{next(_counter)}-{role}-{secrets.token_hex(2)}"
    ns = Namespace(name)
    # Whatever ends this half-way (a failed command, a SIGTERM turned into an interrupt)
    # removes the namespace: nobody else holds it yet.
    try:
        _run(["ip", "netns", "add", name])
        ns.run("ip", "link", "set", "lo", "up")
    except BaseException:
        ns.destroy()
        raise
    return ns


@dataclass
class Guest:
    ns: Namespace
    iface: str
    mac: str
    host_port: str  # veth end in the host namespace, enslaved to the bridge

    def dhcp(self, *, timeout: float = 20) -> str:
        """Get a lease with busybox udhcpc; return the address it got."""
        script = "/tmp/vnetd-udhcpc-script"
        if not Path(script).exists():
            Path(script).write_text(
                "#!/bin/sh\n"
                'case "$1" in bound|renew) ip addr flush dev "$interface";'
                ' ip addr add "$ip/${mask:-24}" dev "$interface";'
                ' [ -n "$router" ] && ip route replace default via "${router%% *}"'
                ' dev "$interface"; echo "LEASE $ip";; esac\n')
            os.chmod(script, 0o755)
        out = self.ns.run("busybox", "udhcpc", "-i", self.iface, "-n", "-q", "-f", "-t", "10",
                          "-T", "1", "-s", script, timeout=timeout).stdout
        for line in out.splitlines():
            if line.startswith("LEASE "):
                return line.split()[1]
        raise AssertionError(f"no lease in udhcpc output: {out}")


@dataclass
class Topology:
    """A fake host with an uplink; guests plug into bridges in the host namespace."""

    host: Namespace
    uplink: Namespace
    guests: list[Guest] = field(default_factory=list)

    def add_guest(self, bridge: str, *, mac: str | None = None) -> Guest:
        index = len(self.guests)
        guest_ns = create_namespace(f"g{index}")
        host_port = f"vg{index}h{secrets.token_hex(2)}"
        mac = mac or f"52:54:00:{0xaa:02x}:{index:02x}:{secrets.randbelow(256):02x}"
        guest = Guest(guest_ns, "eth0", mac, host_port)
        self.guests.append(guest)  # from here on, destroy() removes it whatever happens
        self.host.run("ip", "link", "add", host_port, "type", "veth", "peer", "name", "eth0",
                      "netns", guest_ns.name)
        self.host.run("ip", "link", "set", host_port, "master", bridge)
        self.host.run("ip", "link", "set", host_port, "up")
        guest_ns.run("ip", "link", "set", "eth0", "address", mac)
        guest_ns.run("ip", "link", "set", "eth0", "up")
        return guest

    def add_ipv6_uplink(self, *routed: str) -> None:
        """IPv6 on the uplink veth (host 2001:db8:100::1, uplink ::2, nodad so both are
        usable at once), a host default route via the uplink, and in the uplink a route
        back to each of ``routed`` (guest subnets) via the host."""
        self.host.run("ip", "-6", "addr", "add", f"{UPLINK6_HOST_IP}/{UPLINK6_PREFIX}", "dev",
                      "up0", "nodad")
        self.uplink.run("ip", "-6", "addr", "add", f"{UPLINK6_PEER_IP}/{UPLINK6_PREFIX}",
                        "dev", "up1", "nodad")
        self.host.run("ip", "-6", "route", "replace", "default", "via", UPLINK6_PEER_IP)
        for subnet in routed:
            self.uplink.run("ip", "-6", "route", "replace", subnet, "via", UPLINK6_HOST_IP)

    def destroy(self) -> None:
        for guest in self.guests:
            guest.ns.destroy()
        self.uplink.destroy()
        self.host.destroy()


def make_topology(*, ipv6: bool = False) -> Topology:
    host = create_namespace("host")
    try:
        uplink = create_namespace("uplink")
    except BaseException:
        host.destroy()
        raise
    try:
        host.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns",
                 uplink.name)
        host.run("ip", "addr", "add", f"{UPLINK_HOST_IP}/{UPLINK_PREFIX}", "dev", "up0")
        host.run("ip", "link", "set", "up0", "up")
        host.run("ip", "route", "add", "default", "via", UPLINK_PEER_IP)
        uplink.run("ip", "addr", "add", f"{UPLINK_PEER_IP}/{UPLINK_PREFIX}", "dev", "up1")
        uplink.run("ip", "link", "set", "up1", "up")
        topo = Topology(host, uplink)
        if ipv6:
            topo.add_ipv6_uplink()
    except BaseException:
        uplink.destroy()
        host.destroy()
        raise
    return topo


def topology_fixture() -> Iterator[Topology]:
    topo = make_topology()
    try:
        yield topo
    finally:
        topo.destroy()


def add_macvlan_port(ns: Namespace, bridge: str, name: str = "mv0") -> None:
    """A port that is not a guest's: a macvlan on a veth whose far end is up."""
    ns.run("ip", "link", "add", f"{name}l", "type", "veth", "peer", "name", f"{name}p")
    ns.run("ip", "link", "set", f"{name}l", "up")
    ns.run("ip", "link", "set", f"{name}p", "up")
    ns.run("ip", "link", "add", "link", f"{name}l", "name", name, "type", "macvlan",
           "mode", "bridge")
    ns.run("ip", "link", "set", name, "up")
    ns.run("ip", "link", "set", name, "master", bridge)


def children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes() \
                    .replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


@dataclass
class Leftovers:
    """What a test run in a child process (a pytest, a bench) made, as seen from outside:
    its namespaces (named after its PID) and the processes in them, for checking that the
    run removed them when it was ended."""

    prefix: str
    pids: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, pid: int) -> Leftovers:
        return cls(namespace_prefix(pid))

    def namespaces(self) -> list[str]:
        out = _run(["ip", "netns", "list"]).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(self.prefix)]

    def note_processes(self) -> list[str]:
        """Remember every process now in the run's namespaces; return those namespaces."""
        names = self.namespaces()
        for name in names:
            self.pids.update(Namespace(name).pids())
        return names

    def remove(self) -> tuple[list[str], list[int]]:
        """Remove what is still there (so that a failing check leaks nothing) and return it:
        (namespaces, processes). Processes the run ended get 5 s to be reaped by init."""
        names = self.namespaces()
        deadline = time.monotonic() + 5
        while (alive := [p for p in self.pids if Path(f"/proc/{p}").exists()]) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in alive:  # started by the run, inside its own namespaces
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for name in names:
            _run(["ip", "netns", "delete", name], check=False)
        return names, alive
