"""Drift repair: what others break behind vnetd's back is noticed and put right at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from tests.integration.busapi import Api, SignalRecorder, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import UPLINK_PEER_IP, Topology, children

GOAL = 1.0  # seconds: the target for noticing and repairing


def _until(check: Callable[[], bool], timeout: float = 10) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError("not repaired in time")


def test_drift_is_repaired(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("heal", 60, bridge="vheal"))
    api.net(path, "Start")
    guest = topology.add_guest("vheal")
    address = guest.dhcp()
    host = topology.host
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()

    def has_rules() -> bool:
        out = host.run("nft", "list", "table", "inet", "vnetd", check=False).stdout
        return "vheal" in out

    def bridge_ok() -> bool:
        out = host.run("ip", "-4", "addr", "show", "vheal", check=False).stdout
        return "10.77.60.1/24" in out and "UP" in out

    def forwarding_on() -> bool:
        return host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"

    # The last item: whether the network's dnsmasq is to be kept. It binds its DHCP
    # socket to the bridge device, so only a bridge made anew needs a new one.
    drifts = [
        ("nft flush ruleset", ["nft", "flush", "ruleset"], has_rules, True),
        ("nft delete table inet vnetd", ["nft", "delete", "table", "inet", "vnetd"], has_rules,
         True),
        ("ip addr flush dev vheal", ["ip", "addr", "flush", "dev", "vheal"], bridge_ok, True),
        ("ip link del vheal", ["ip", "link", "del", "vheal"], bridge_ok, False),
        ("sysctl net.ipv4.ip_forward=0", ["sysctl", "-w", "net.ipv4.ip_forward=0"],
         forwarding_on, True),
    ]
    pidfile = vnetd_daemon.state_dir / "dnsmasq" / "heal.pid"

    def dnsmasq_pid() -> str:
        try:
            return pidfile.read_text().strip()
        except FileNotFoundError:  # between an old dnsmasq and its replacement
            return ""

    figures = []
    try:
        for label, argv, check, keeps_dnsmasq in drifts:
            before = dnsmasq_pid()
            host.run(*argv)
            took = _until(check)
            figures.append((label, took))
            print(f"drift repaired: {label}: {took:.3f}s (goal {GOAL}s)")
            time.sleep(0.3)  # let the repair finish its other parts
            if keeps_dnsmasq:
                assert dnsmasq_pid() == before, f"{label}: dnsmasq replaced"
            else:
                _until(lambda before=before: dnsmasq_pid() not in ("", before))
        recorder.wait_for(lambda s: any(x[2] == "NetworkRepaired" for x in s))
    finally:
        recorder.stop()
    # The guest is whole again: its port was on the deleted bridge, so plug it back in the
    # way a hypervisor would, then it renews its lease and reaches the uplink through NAT.
    host.run("ip", "link", "set", guest.host_port, "master", "vheal")
    assert has_rules() and bridge_ok() and forwarding_on()
    assert guest.dhcp() == address
    guest.ns.run("ping", "-n", "-c", "2", "-W", "2", UPLINK_PEER_IP)
    assert api.prop(path, "Active") is True
    log = vnetd_daemon.log()
    assert "repaired" in log
    # Repairs put back what was broken and leave the rest alone: no dnsmasq was ended
    # by a repair and then restarted by its supervisor.
    assert "dnsmasq died" not in log and "restarted dnsmasq" not in log
    for label, took in figures:
        assert took < 5 * GOAL, f"{label} took {took:.3f}s"


def test_foreign_drop_policy_is_reported(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("foreign", 61, bridge="vforeign"))
    api.net(path, "Start")
    assert api.prop(path, "Problems") == []
    # What Docker does to FORWARD, in a table of its own; vnetd must report, not touch it.
    topology.host.run("nft", "add", "table", "ip", "dockerish")
    topology.host.run("nft", "add", "chain", "ip", "dockerish", "FORWARD",
                      "{ type filter hook forward priority 0; policy drop; }")
    took = _until(lambda: bool(api.prop(path, "Problems")), timeout=15)
    problems = api.prop(path, "Problems")
    print(f"foreign drop policy reported after {took:.3f}s: {problems}")
    assert any("dockerish" in p and "FORWARD" in p for p in problems)
    listing = topology.host.run("nft", "list", "table", "ip", "dockerish").stdout
    assert "policy drop" in listing
    topology.host.run("nft", "delete", "table", "ip", "dockerish")
    _until(lambda: api.prop(path, "Problems") == [], timeout=15)


def _address_removal_is_repaired(vnetd_daemon: Daemon, topology: Topology,
                                 subnet: int) -> None:
    def bridge_ok() -> bool:
        out = topology.host.run("ip", "-4", "addr", "show", "vwatch", check=False).stdout
        return f"10.77.{subnet}.1/24" in out

    assert bridge_ok()
    topology.host.run("ip", "addr", "flush", "dev", "vwatch")
    _until(bridge_ok, timeout=5)


def test_a_link_event_that_fails_does_not_end_the_watch(vnetd_daemon: Daemon,
                                                        topology: Topology) -> None:
    """An event the daemon cannot handle is logged and skipped; the events after it are
    handled: the removal of the bridge's addresses is repaired."""
    vnetd_daemon.start("--no-default-network", env={
        "VNETD_TEST_HOOKS": "1", "VNETD_TEST_FAIL_AT": "link-event@1"})
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("watch", 61, bridge="vwatch")), "Start")
    _until(lambda: "link event not handled" in vnetd_daemon.log(), timeout=5)
    # The first event came from somewhere: make sure it has been handled.
    topology.host.run("ip", "link", "add", "vnudge", "type", "bridge")
    _address_removal_is_repaired(vnetd_daemon, topology, 61)
    assert "bridge watch failed" not in vnetd_daemon.log()


def test_a_failed_bridge_watch_is_started_again(vnetd_daemon: Daemon,
                                                topology: Topology) -> None:
    """The watch itself failing (a netlink socket error) is logged, and a new one
    follows the bridges: the removal of the bridge's addresses is repaired."""
    vnetd_daemon.start("--no-default-network", env={
        "VNETD_TEST_HOOKS": "1", "VNETD_TEST_FAIL_AT": "link-watch@1"})
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("watch", 62, bridge="vwatch")), "Start")
    _until(lambda: "bridge watch failed, starting it again" in vnetd_daemon.log(), timeout=5)
    time.sleep(1.0)  # the new watch listens after WATCH_RESTART_DELAY
    _address_removal_is_repaired(vnetd_daemon, topology, 62)


def test_a_killed_nft_monitor_is_started_again(vnetd_daemon: Daemon,
                                               topology: Topology) -> None:
    """Someone kills the daemon's ``nft monitor``: a new one is started, and a flush of
    the ruleset is still repaired."""
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("watch", 63, bridge="vwatch")), "Start")
    assert vnetd_daemon.process is not None
    daemon_pid = vnetd_daemon.process.pid

    def monitors() -> list[int]:
        return [pid for pid, cmd in children(daemon_pid).items() if "monitor" in cmd]

    _until(lambda: bool(monitors()), timeout=5)
    (first,) = monitors()
    os.kill(first, signal.SIGKILL)  # started by the daemon this test started
    _until(lambda: "nft monitor ended, starting it again" in vnetd_daemon.log(), timeout=5)
    _until(lambda: bool(monitors()) and monitors() != [first], timeout=5)
    time.sleep(0.3)  # the new monitor subscribes to the kernel's events

    def has_rules() -> bool:
        out = topology.host.run("nft", "list", "table", "inet", "vnetd", check=False).stdout
        return "vwatch" in out

    topology.host.run("nft", "flush", "ruleset")
    _until(has_rules, timeout=5)
