"""dnsmasq supervision through the real daemon: a killed dnsmasq is replaced within a
second and guests keep their addresses; one that keeps dying is given up on, and the
network's ``Problems`` property says so (announced by PropertiesChanged)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.integration.busapi import NET_IFACE, Api, SignalRecorder, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import PYTHON, Guest, Topology

PROBE_NAME = "probe"

# Inside a guest: wait for a monotonic timestamp on stdin (CLOCK_MONOTONIC is shared by
# every network namespace), then ask the server for PROBE_NAME over and over until an
# answer comes, and print how long after that timestamp it came.
PROBER = """
import socket, struct, sys, time
server = sys.argv[1]
query = (struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
         + b"".join(bytes([len(p)]) + p.encode() for p in sys.argv[2].split("."))
         + b"\\0" + struct.pack(">HH", 1, 1))
print("ready", flush=True)
since = float(sys.stdin.readline())
tries = 0
while True:
    tries += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.02)
    try:
        s.connect((server, 53))
        s.send(query)
        reply = s.recv(512)
    except OSError:  # refused (nobody on port 53) or timed out
        s.close()
        if time.monotonic() - since > 10:
            print("timeout", tries, flush=True)
            break
        time.sleep(0.005)
        continue
    s.close()
    if reply[:2] == query[:2] and struct.unpack(">H", reply[6:8])[0] > 0:
        print("answered", time.monotonic() - since, tries, socket.inet_ntoa(reply[-4:]),
              flush=True)
        break
"""


def _xml(name: str, n: int) -> str:
    dns = f"<dns><host ip='10.77.{n}.7'><hostname>{PROBE_NAME}</hostname></host></dns>"
    return network_xml(name, n, bridge=f"vs{name}", extra=dns)


def _pidfile(daemon: Daemon, name: str) -> Path:
    return daemon.state_dir / "dnsmasq" / f"{name}.pid"


def _pid(daemon: Daemon, name: str) -> int | None:
    try:
        text = _pidfile(daemon, name).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _status_pid(daemon: Daemon, name: str) -> int | None:
    doc = json.loads((daemon.run_dir / "networks" / f"{name}.json").read_text())
    pid = doc.get("dnsmasq_pid")
    return int(pid) if pid is not None else None


def _is_dnsmasq(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dnsmasq"
    except OSError:
        return False


def _kill_dnsmasq(pid: int) -> None:
    # Only ever the pid the daemon wrote for our test network, checked to be a dnsmasq.
    assert _is_dnsmasq(pid), f"pid {pid} is not a dnsmasq"
    os.kill(pid, signal.SIGKILL)


def _wait_for(what: str, predicate: Any, timeout: float = 10) -> float:
    began = time.monotonic()
    while True:
        value = predicate()
        if value:
            return time.monotonic() - began
        assert time.monotonic() - began < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)


def _start_prober(guest: Guest, n: int) -> subprocess.Popen[str]:
    prober = guest.ns.popen(PYTHON, "-c", PROBER, f"10.77.{n}.1", PROBE_NAME,
                            stdin=subprocess.PIPE)
    assert prober.stdout is not None
    assert prober.stdout.readline().strip() == "ready"
    return prober


def test_killed_dnsmasq_is_replaced_within_a_second(vnetd_daemon: Daemon,
                                                    topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(_xml("sup", 70))
    api.net(path, "Start")
    old = _pid(vnetd_daemon, "sup")
    assert old is not None and _status_pid(vnetd_daemon, "sup") == old
    guest = topology.add_guest("vssup", mac="52:54:00:70:00:01")
    address = guest.dhcp()
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    try:
        prober = _start_prober(guest, 70)
        assert prober.stdin is not None and prober.stdout is not None
        killed_at = time.monotonic()
        _kill_dnsmasq(old)
        # Only now may the prober ask: an earlier query could reach the old dnsmasq.
        # A SIGKILLed process runs no more code, so every answer from here is new.
        prober.stdin.write(f"{killed_at}\n")
        prober.stdin.flush()
        line = prober.stdout.readline().split()
        prober.wait(timeout=5)
        assert line[:1] == ["answered"], f"no DNS answer after the kill: {line}"
        latency, tries, answer = float(line[1]), int(line[2]), line[3]
        assert answer == "10.77.70.7"
        new = _pid(vnetd_daemon, "sup")
        assert new is not None and new != old and _is_dnsmasq(new)
        pidfile_latency = _wait_for("the status file to follow the new pid",
                                    lambda: _status_pid(vnetd_daemon, "sup") == new)
        print(f"dnsmasq SIGKILLed: guest DNS answered again after {latency * 1000:.0f} ms "
              f"({tries} queries); status file had pid {new} "
              f"{pidfile_latency * 1000:.0f} ms after that")
        assert latency < 1.0, f"restart took {latency:.3f}s"
        # The guest renews from the new dnsmasq and keeps its address (lease file kept).
        began = time.monotonic()
        assert guest.dhcp() == address
        print(f"guest renewed {address} from the new dnsmasq in "
              f"{time.monotonic() - began:.3f}s")
        assert api.prop(path, "Problems") == []
        assert "dnsmasq died and was restarted" in vnetd_daemon.log()
        # A restart that succeeded announces no problem.
        problems = [body for _, body in recorder.members("PropertiesChanged")
                    if "Problems" in body[1]]
        assert all(b[1]["Problems"].value == [] for b in problems), problems
    finally:
        recorder.stop()


def _problems_announced(signals: list[tuple[str, str, str, list[Any]]], path: str) -> bool:
    for spath, _iface, member, body in signals:
        if (spath == path and member == "PropertiesChanged" and body[0] == NET_IFACE
                and "Problems" in body[1]
                and any(p.startswith("dnsmasq: ") for p in body[1]["Problems"].value)):
            return True
    return False


def test_dnsmasq_that_keeps_dying_is_given_up_and_reported(vnetd_daemon: Daemon,
                                                           topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(_xml("die", 71))
    api.net(path, "Start")
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    try:
        began = time.monotonic()
        killed: list[tuple[float, int]] = []
        seen: set[int] = set()
        # Kill every dnsmasq the supervisor starts, as soon as its pid file names it,
        # until the supervisor stops starting new ones.
        while time.monotonic() - began < 30:
            pid = _pid(vnetd_daemon, "die")
            if pid is not None and pid not in seen and _is_dnsmasq(pid):
                seen.add(pid)
                _kill_dnsmasq(pid)
                killed.append((time.monotonic() - began, pid))
            if _problems_announced(recorder.signals, path):
                break
            time.sleep(0.005)
        gave_up = time.monotonic() - began
        recorder.wait_for(lambda s: _problems_announced(s, path), timeout=5)
    finally:
        recorder.stop()
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(killed)]
    print(f"killed {len(killed)} dnsmasq processes; restart gaps "
          f"{', '.join(f'{g:.2f}s' for g in gaps)}; gave up after {gave_up:.2f}s")
    # Backoff: each restart waits longer than the one before.
    assert len(killed) >= 3 and all(b > a for a, b in itertools.pairwise(gaps)), gaps
    problems = api.prop(path, "Problems")
    assert any(p.startswith("dnsmasq: ") for p in problems), problems
    assert api.prop(path, "Active") is True  # the bridge and rules keep running
    assert "giving up" in vnetd_daemon.log()
    time.sleep(1)
    assert _pid(vnetd_daemon, "die") in seen | {None}, "a dnsmasq was started after giving up"
    # Restarting the network brings dnsmasq back and clears the problem, and watchers
    # are told that it is cleared.
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    try:
        api.net(path, "Destroy")
        api.net(path, "Start")
        assert api.prop(path, "Problems") == []
        pid = _pid(vnetd_daemon, "die")
        assert pid is not None and _is_dnsmasq(pid)
        dig = topology.host.run("dig", "+short", "+time=2", "@10.77.71.1", PROBE_NAME).stdout
        assert dig.strip() == "10.77.71.7"
        time.sleep(0.5)
        cleared = [b for p, _i, m, b in recorder.signals
                   if p == path and m == "PropertiesChanged" and "Problems" in b[1]]
    finally:
        recorder.stop()
    assert cleared, "Destroy cleared Problems without announcing it"
    assert [b[1]["Problems"].value for b in cleared] == [[]]


def test_restart_rewrites_a_damaged_conf(vnetd_daemon: Daemon, topology: Topology) -> None:
    """The conf file damaged under the daemon's feet does not stop the restart: the
    supervisor writes the files afresh from the network's definition."""
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(_xml("dmg", 72))
    api.net(path, "Start")
    conf = vnetd_daemon.state_dir / "dnsmasq" / "dmg.conf"
    good = conf.read_text()
    old = _pid(vnetd_daemon, "dmg")
    assert old is not None
    conf.write_text("this-is-not-an-option\n")
    (vnetd_daemon.state_dir / "dnsmasq" / "dmg.addnhosts").unlink()
    _kill_dnsmasq(old)
    took = _wait_for("a new dnsmasq", lambda: (_pid(vnetd_daemon, "dmg") or old) != old
                     and _status_pid(vnetd_daemon, "dmg") == _pid(vnetd_daemon, "dmg"))
    print(f"restarted with a rewritten conf in {took * 1000:.0f} ms")
    assert conf.read_text() == good
    dig = topology.host.run("dig", "+short", "+time=2", "@10.77.72.1", PROBE_NAME).stdout
    assert dig.strip() == "10.77.72.7"
    assert api.prop(path, "Problems") == []


# Takes UDP port 53 on the bridge address the moment dnsmasq lets go of it (dnsmasq
# binds with SO_REUSEADDR; this socket does not, so it can bind only once dnsmasq is
# gone, and from then on no dnsmasq can bind there).
PORT_HOLDER = """
import socket, sys, time
print("ready", flush=True)
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((sys.argv[1], 53))
    except OSError:
        s.close()
        time.sleep(0.001)
        continue
    print("holding", flush=True)
    time.sleep(60)
"""


def test_dnsmasq_that_cannot_start_again_is_given_up(vnetd_daemon: Daemon,
                                                     topology: Topology) -> None:
    """Another program takes the DNS port while dnsmasq is down: every restart fails
    to bind, with backoff, until the supervisor gives up and says why."""
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(_xml("busy", 73))
    api.net(path, "Start")
    holder = topology.host.popen(PYTHON, "-c", PORT_HOLDER, "10.77.73.1")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    try:
        pid = _pid(vnetd_daemon, "busy")
        assert pid is not None
        began = time.monotonic()
        _kill_dnsmasq(pid)
        assert holder.stdout.readline().strip() == "holding"
        recorder.wait_for(lambda s: _problems_announced(s, path), timeout=30)
        gave_up = time.monotonic() - began
    finally:
        recorder.stop()
    problems = api.prop(path, "Problems")
    print(f"gave up {gave_up:.2f}s after the kill; Problems: {problems}")
    assert any(p.startswith("dnsmasq: ") for p in problems), problems
    log = vnetd_daemon.log()
    assert log.count("restarting dnsmasq of network busy failed") >= 3
    assert "Address already in use" in log
    holder.terminate()
    holder.wait(timeout=5)
