"""``<port isolated='yes'>`` with real guests: each guest gets its lease and reaches the
host and the uplink, but not the other guests; guests of a network without it reach
each other. vnetd flags every guest port as it joins, and at its next start one that
joined while it was stopped (vnetd.bridge.isolation)."""

from __future__ import annotations

import signal
import time

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import (
    UPLINK_PEER_IP,
    Guest,
    Namespace,
    Topology,
    add_macvlan_port,
)

ISOLATED = "<port isolated='yes'/>"


def _flagged(host: Namespace, port: str) -> bool:
    (link,) = host.ip_json("-d", "link", "show", "dev", port)  # type: ignore[misc]
    return bool(link["linkinfo"]["info_slave_data"]["isolated"])


def _wait_flagged(host: Namespace, port: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not _flagged(host, port):
        assert time.monotonic() < deadline, f"port {port} was not isolated"
        time.sleep(0.02)


def _reaches(guest: Guest, address: str) -> bool:
    return guest.ns.run("ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def test_isolated_guests_reach_the_host_and_uplink_but_not_each_other(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("iso", 31, bridge="viso", extra=ISOLATED)), "Start")
    api.net(api.define(network_xml("open", 32, bridge="vopen")), "Start")
    iso = [topology.add_guest("viso") for _ in range(2)]
    shared = [topology.add_guest("vopen") for _ in range(2)]
    for guest in iso:
        _wait_flagged(topology.host, guest.host_port)
    iso_addresses = [guest.dhcp() for guest in iso]
    shared_addresses = [guest.dhcp() for guest in shared]

    assert _reaches(iso[0], "10.77.31.1")
    assert _reaches(iso[0], UPLINK_PEER_IP)  # NAT still forwards
    assert not _reaches(iso[0], iso_addresses[1])
    assert not _reaches(iso[1], iso_addresses[0])
    # The same topology without <port isolated>: the guests see each other.
    assert not any(_flagged(topology.host, guest.host_port) for guest in shared)
    assert _reaches(shared[0], shared_addresses[1])
    # A flag cleared behind vnetd's back comes back.
    topology.host.run("ip", "link", "set", "dev", iso[0].host_port, "type", "bridge_slave",
                      "isolated", "off")
    _wait_flagged(topology.host, iso[0].host_port)
    assert not _reaches(iso[0], iso_addresses[1])
    # The definition keeps the element.
    assert ISOLATED in api.xml(api.lookup("iso"))


def test_a_port_that_joined_while_vnetd_was_stopped_is_isolated_at_its_start(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("iso", 33, bridge="viso", extra=ISOLATED)), "Start")
    first = topology.add_guest("viso")
    _wait_flagged(topology.host, first.host_port)
    vnetd_daemon.stop(signal.SIGTERM)

    second = topology.add_guest("viso")  # plugged in while nobody watches
    assert not _flagged(topology.host, second.host_port)
    # A port that is not a guest's (a macvlan, as a NIC would be) is never flagged.
    add_macvlan_port(topology.host, "viso", "vnic0")

    vnetd_daemon.start("--no-default-network")
    _wait_flagged(topology.host, second.host_port)
    assert _flagged(topology.host, first.host_port)
    assert not _flagged(topology.host, "vnic0")
    addresses = [first.dhcp(), second.dhcp()]
    assert _reaches(second, "10.77.33.1")
    assert not _reaches(second, addresses[0])
