"""One network end to end in each mode, with real guests: nat, route, isolated, open; static
hosts, DNS names, two networks side by side, and starts that fail half way."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.busapi import NET_IFACE, Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import (
    UPLINK_HOST_IP,
    UPLINK_PEER_IP,
    Guest,
    Namespace,
    Topology,
)

LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7777)); s.listen(5)
print("LISTENING", flush=True)
conn, peer = s.accept()
print("PEER", peer[0], flush=True)
"""


def _peer_seen_by_uplink(topology: Topology, guest_ns: Namespace) -> str:
    """Connect from the guest to a listener in the uplink; return the peer it saw."""
    import sys

    listener = topology.uplink.popen(sys.executable, "-c", LISTENER)
    assert listener.stdout is not None
    assert listener.stdout.readline().strip() == "LISTENING"
    guest_ns.run(sys.executable, "-c",
                 f"import socket; socket.create_connection(('{UPLINK_PEER_IP}', 7777), 3)")
    line = listener.stdout.readline().strip()
    listener.wait(timeout=5)
    assert line.startswith("PEER "), line
    return line.split()[1]


def _start_and_time_first_lease(api: Api, path: str, topology: Topology, bridge: str,
                                label: str) -> tuple[str, Guest]:
    began = time.monotonic()
    api.net(path, "Start")
    started = time.monotonic() - began
    guest = topology.add_guest(bridge)
    address = guest.dhcp()
    print(f"{label}: start took {started * 1000:.1f} ms; first lease {address} "
          f"{time.monotonic() - began:.3f}s after the start call")
    return address, guest


def test_nat_mode(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    extra = ("<domain name='lab.test'/><dns><host ip='10.77.70.5'><hostname>db</hostname>"
             "</host></dns>")
    path = api.define(network_xml("natm", 70, bridge="vnat", extra=extra))
    address, guest = _start_and_time_first_lease(api, path, topology, "vnat", "nat")
    assert address.startswith("10.77.70.")
    answer = topology.host.run("dig", "+short", "+time=2", "@10.77.70.1", "db.lab.test")
    assert answer.stdout.strip() == "10.77.70.5"
    assert _peer_seen_by_uplink(topology, guest.ns) == UPLINK_HOST_IP


def test_route_mode(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("routem", 71, bridge="vroute", mode="route"))
    address, guest = _start_and_time_first_lease(api, path, topology, "vroute", "route")
    # The uplink routes the guest subnet back through the host, as a real router would.
    topology.uplink.run("ip", "route", "add", "10.77.71.0/24", "via", UPLINK_HOST_IP)
    assert _peer_seen_by_uplink(topology, guest.ns) == address


def test_isolated_mode(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("isom", 72, bridge="viso", mode=None))
    address, guest = _start_and_time_first_lease(api, path, topology, "viso", "isolated")
    assert address.startswith("10.77.72.")
    ns = guest.ns
    ns.run("ping", "-n", "-c", "1", "-W", "2", "10.77.72.1")
    blocked = ns.run("ping", "-n", "-c", "1", "-W", "1", UPLINK_PEER_IP, check=False)
    assert blocked.returncode != 0
    other = topology.add_guest("viso")
    ns.run("ping", "-n", "-c", "1", "-W", "2", other.dhcp())


def test_open_mode_installs_no_rules(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("openm", 73, bridge="vopen", mode="open"))
    address, _guest = _start_and_time_first_lease(api, path, topology, "vopen", "open")
    assert address.startswith("10.77.73.")
    ruleset = json.loads(topology.host.run("nft", "-j", "list", "ruleset").stdout)
    assert not any("vopen" in json.dumps(item) for item in ruleset["nftables"])


def test_static_host_and_two_networks_side_by_side(vnetd_daemon: Daemon,
                                                   topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    fixed = ("<network><name>one</name><forward mode='nat'/><bridge name='vone'/>"
             "<ip address='10.77.74.1' netmask='255.255.255.0'><dhcp>"
             "<range start='10.77.74.100' end='10.77.74.200'/>"
             "<host mac='52:54:00:74:00:01' name='pinned' ip='10.77.74.9'/>"
             "</dhcp></ip></network>")
    one = api.define(fixed)
    two = api.define(network_xml("two", 75, bridge="vtwo"))
    api.net(one, "Start")
    api.net(two, "Start")
    pinned = topology.add_guest("vone", mac="52:54:00:74:00:01")
    assert pinned.dhcp() == "10.77.74.9"
    assert topology.add_guest("vtwo").dhcp().startswith("10.77.75.")
    api.net(one, "Destroy")
    assert topology.add_guest("vtwo").dhcp().startswith("10.77.75.")


STEPS = ["start-after-status", "start-bridge", "start-firewall", "start-dnsmasq", "start-guarded",
         "start-done"]


@pytest.mark.parametrize("step", STEPS)
def test_failed_start_leaves_nothing(vnetd_daemon: Daemon, topology: Topology,
                                     step: str) -> None:
    vnetd_daemon.start("--no-default-network",
                       env={"VNETD_TEST_HOOKS": "1", "VNETD_TEST_FAIL_AT": step})
    api = Api(vnetd_daemon)
    path = api.define(network_xml("half", 76, bridge="vhalf"))
    err = api.error(path, NET_IFACE, "Start")
    assert step in err
    host = topology.host
    assert host.run("ip", "link", "show", "vhalf", check=False).returncode != 0
    tables = host.run("nft", "list", "tables").stdout
    assert "vhalf" not in host.run("nft", "list", "ruleset").stdout, tables
    assert not (vnetd_daemon.run_dir / "networks" / "half.json").exists()
    assert not (vnetd_daemon.state_dir / "dnsmasq" / "half.pid").exists()
    assert api.prop(path, "Active") is False
    # Nothing blocks a later start once the fault is gone.
    vnetd_daemon.stop()
    vnetd_daemon.start("--no-default-network")
    api.net(path, "Start")
    assert api.prop(path, "Active") is True
