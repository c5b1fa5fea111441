"""Adoption at daemon start, with several networks at once: what is intact is taken over
without being touched, what broke while the daemon was away is repaired (and only that),
what cannot be adopted is stopped, leftovers are cleared; all before the daemon answers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Namespace, Topology
from tests.reliability.state import dnsmasq_processes, network_state, verdict
from vnetd.firewall.rules import chain_ids

pytestmark = pytest.mark.integration

ARGS = ("--no-default-network",)
NAMES = {"keep": 41, "brk": 42, "rules": 43, "dhcp": 44, "nic": 45, "conf": 46, "left": 47}


def _ifindex(ns: Namespace, name: str) -> int | None:
    proc = ns.run("ip", "-j", "link", "show", "dev", name, check=False)
    return json.loads(proc.stdout)[0]["ifindex"] if proc.returncode == 0 else None


def _stp_state(ns: Namespace, name: str) -> int:
    link = json.loads(ns.run("ip", "-d", "-j", "link", "show", "dev", name).stdout)[0]
    return int(link["linkinfo"]["info_data"]["stp_state"])


def _rule_handles(ns: Namespace, network: str) -> str:
    """The network's chains with rule handles (rewritten rules get new ones), without
    the counters' values (a guest's packet may pass meanwhile)."""
    text = "".join(ns.run("nft", "-a", "list", "chain", "inet", "vnetd", chain).stdout
                   for chain in chain_ids(network).all())
    return re.sub(r"packets \d+ bytes \d+", "", text)


def _has_rules(ns: Namespace, network: str) -> bool:
    out = ns.run("nft", "list", "chain", "inet", "vnetd", chain_ids(network).inbound,
                 check=False).stdout
    return "accept" in out


def _pid(daemon: Daemon, network: str) -> int:
    return int((daemon.state_dir / "dnsmasq" / f"{network}.pid").read_text())


def _this_start(daemon: Daemon) -> str:
    return daemon.log().split(f"--- start {daemon.starts} ---")[-1]


def test_restart_takes_over_what_is_intact_and_repairs_only_what_broke(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    host = topology.host
    vnetd_daemon.start(*ARGS)
    api = Api(vnetd_daemon)
    paths = {}
    for name, subnet in NAMES.items():
        paths[name] = api.define(network_xml(name, subnet, bridge=f"v{name}"))
        api.net(paths[name], "Start")
    keep_index = _ifindex(host, "vkeep")
    keep_pid, dhcp_pid = _pid(vnetd_daemon, "keep"), _pid(vnetd_daemon, "dhcp")
    keep_handles = _rule_handles(host, "keep")
    status = vnetd_daemon.run_dir / "networks" / "keep.json"
    status_written = status.stat().st_mtime_ns
    assert _stp_state(host, "vnic") == 0  # no ports yet: STP waits for a non-guest port
    assert vnetd_daemon.stop() == 0

    # While the daemon is away.
    host.run("ip", "addr", "del", "10.77.42.1/24", "dev", "vbrk")
    host.run("nft", "flush", "chain", "inet", "vnetd", chain_ids("rules").inbound)
    os.kill(dhcp_pid, signal.SIGKILL)
    host.run("ip", "link", "add", "vnl", "type", "veth", "peer", "name", "vnp")
    host.run("ip", "link", "add", "link", "vnl", "name", "vnmac", "type", "macvlan")
    host.run("ip", "link", "set", "vnmac", "master", "vnic", "up")
    # conf: its bridge name now belongs to a veth, which adoption must not take.
    host.run("ip", "link", "del", "vconf")
    host.run("ip", "link", "add", "vconf", "type", "veth", "peer", "name", "vconfp")
    # left: its status file is lost; it is an inactive network with leftovers now.
    (vnetd_daemon.run_dir / "networks" / "left.json").unlink()

    vnetd_daemon.start(*ARGS)  # returns once the daemon owns its bus name
    log = _this_start(vnetd_daemon)
    active = {name: api.prop(path, "Active") for name, path in paths.items()}
    assert active == {**dict.fromkeys(NAMES, True), "conf": False, "left": False}, log
    # Intact: taken over untouched.
    assert _ifindex(host, "vkeep") == keep_index
    assert _pid(vnetd_daemon, "keep") == keep_pid
    assert _rule_handles(host, "keep") == keep_handles, \
        f"intact rules were rewritten:\n{keep_handles}\n{_rule_handles(host, 'keep')}\n{log}"
    assert status.stat().st_mtime_ns == status_written, "an unchanged status was rewritten"
    assert "network keep: repaired" not in log
    # Broken: repaired, and said so.
    assert "10.77.42.1/24" in host.run("ip", "-4", "addr", "show", "vbrk").stdout
    assert "network brk: repaired bridge after restart" in log
    assert _has_rules(host, "rules")
    assert "network rules: repaired firewall after restart" in log
    assert _pid(vnetd_daemon, "dhcp") != dhcp_pid
    assert Path(f"/proc/{_pid(vnetd_daemon, 'dhcp')}").exists()
    assert "network dhcp: repaired dnsmasq after restart" in log
    assert _stp_state(host, "vnic") == 1, "a non-guest port joined: STP must run"
    # Not adoptable: stopped, the foreign veth left alone.
    assert "network conf: cannot adopt" in log
    assert _ifindex(host, "vconf") is not None and not _has_rules(host, "conf")
    # Leftovers of the inactive network: cleared.
    assert _ifindex(host, "vleft") is None and not _has_rules(host, "left")
    assert not (vnetd_daemon.state_dir / "dnsmasq" / "left.pid").exists()
    assert "Traceback" not in vnetd_daemon.log()

    # An adopted bridge is watched like one the daemon built: drift is repaired.
    host.run("ip", "addr", "del", "10.77.41.1/24", "dev", "vkeep")
    deadline = time.monotonic() + 10
    while "10.77.41.1/24" not in host.run("ip", "-4", "addr", "show", "vkeep").stdout:
        assert time.monotonic() < deadline, "drift on an adopted bridge was not repaired"
        time.sleep(0.05)
    # A port joining an adopted bridge still waiting for one turns STP on.
    host.run("ip", "link", "set", "vnl", "nomaster")
    host.run("ip", "link", "add", "link", "vnl", "name", "vnmac2", "type", "macvlan")
    host.run("ip", "link", "set", "vnmac2", "master", "vkeep", "up")
    deadline = time.monotonic() + 10
    while _stp_state(host, "vkeep") != 1:
        assert time.monotonic() < deadline, "STP did not start on an adopted bridge"
        time.sleep(0.05)


def test_stop_ends_the_monitor_and_leaves_networks_running(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    """SIGTERM: the daemon exits at once (0), its log complete, its nft monitor child
    gone; the network and its dnsmasq run on."""
    host = topology.host
    vnetd_daemon.start(*ARGS)
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("stay", 48, bridge="vstay")), "Start")
    dnsmasq = _pid(vnetd_daemon, "stay")

    def monitors() -> list[int]:
        found = []
        for pid in host.pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"monitor" in argv and Path(argv[0].decode()).name == "nft":
                found.append(pid)
        return found

    deadline = time.monotonic() + 10
    while not monitors():  # the drift watch starts its child once the name is taken
        assert time.monotonic() < deadline, "no nft monitor child"
        time.sleep(0.05)
    assert vnetd_daemon.stop() == 0
    assert monitors() == []
    # The log is complete up to its last line (the daemon skips Python's own teardown).
    lines = _this_start(vnetd_daemon).rstrip().split("\n")
    assert "stopping; running networks keep running" in lines[-2]
    assert "stopped (ms: " in lines[-1]
    assert Path(f"/proc/{dnsmasq}").exists() and _ifindex(host, "vstay") is not None


def test_sigterm_with_calls_in_flight_leaves_every_network_whole(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    """SIGTERM while starts and destroys run: the daemon exits (0) after cancelling them
    (a start rolls back); after the next start every network is fully running or fully
    stopped, the daemon agrees, and no dnsmasq is left without its network."""
    host = topology.host
    vnetd_daemon.start(*ARGS)
    api = Api(vnetd_daemon)
    names = [f"term{i}" for i in range(8)]
    paths = {n: api.define(network_xml(n, 50 + i, bridge=f"vt{i}")) for i, n in enumerate(names)}
    for name in names[:4]:
        api.net(paths[name], "Start")
    calls = [subprocess.Popen(
        ["busctl", f"--address={vnetd_daemon.bus.address}", "call", "org.vnetd1", paths[n],
         "org.vnetd1.Network", "Destroy" if i < 4 else "Start"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i, n in enumerate(names)]
    time.sleep(0.03)
    assert vnetd_daemon.stop() == 0, vnetd_daemon.log()[-5000:]
    for call in calls:
        call.wait(timeout=30)

    vnetd_daemon.start(*ARGS)
    running = set()
    for i, name in enumerate(names):
        found = verdict(network_state(vnetd_daemon, host, name, f"vt{i}"),
                        address=f"10.77.{50 + i}.1")
        assert found in ("running", "stopped"), (name, found, vnetd_daemon.log()[-3000:])
        assert api.prop(paths[name], "Active") == (found == "running"), name
        if found == "running":
            running.add(name)
    conf_dir = str(vnetd_daemon.state_dir / "dnsmasq")
    owners = sorted(conf.rsplit("/", 1)[-1].removesuffix(".conf")
                    for conf in dnsmasq_processes(host).values() if conf.startswith(conf_dir))
    assert owners == sorted(running)
    log = vnetd_daemon.log()
    assert "Traceback" not in log, log[log.find("Traceback") - 2000:][:6000]
