"""Pure edge-port STP rules: which ports are edge ports, the delay the kernel holds, which
link events mean a non-edge port joined one of our bridges, and the requests' bytes."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pyroute2.netlink import NLA_F_NESTED
from pyroute2.netlink.rtnl import RTM_DELLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from tests.unit.link_events import link_event
from vnetd.bridge.stp import (
    forward_delay_cs,
    is_edge,
    joined_non_edge,
    port_recheck_request,
    port_state_request,
    ports_request,
    stp_requested,
)
from vnetd.model import Bridge, NetworkDefinition


def net(bridge: Bridge | None) -> NetworkDefinition:
    return NetworkDefinition(name="n", bridge=bridge)


@pytest.mark.parametrize(("kind", "edge"), [
    ("tun", True), ("veth", True),
    (None, False),  # a physical NIC has no IFLA_INFO_KIND
    ("bond", False), ("vlan", False), ("macvlan", False), ("bridge", False),
    ("dummy", False), ("vxlan", False),
])
def test_edge_ports_are_taps_and_veths(kind: str | None, edge: bool) -> None:
    assert is_edge(kind) is edge


def test_stp_defaults_to_on() -> None:
    assert stp_requested(net(None))
    assert stp_requested(net(Bridge(name="virbr0")))
    assert stp_requested(net(Bridge(name="virbr0", stp=True)))
    assert not stp_requested(net(Bridge(name="virbr0", stp=False)))


@pytest.mark.parametrize(("delay", "off", "on"), [
    (None, 0, 200), (0, 0, 200), (1, 100, 200), (5, 500, 500), (30, 3000, 3000),
    (45, 4500, 3000),
])
def test_forward_delay_is_clamped_only_while_stp_runs(delay: int | None, off: int,
                                                      on: int) -> None:
    definition = net(Bridge(name="virbr0", delay=delay))
    assert forward_delay_cs(definition, kernel_stp=False) == off
    assert forward_delay_cs(definition, kernel_stp=True) == on


def test_non_edge_port_joining_a_pending_bridge_is_noticed() -> None:
    assert joined_non_edge(link_event(None, 4), {4}) == 4
    assert joined_non_edge(link_event("macvlan", 4), {4, 7}) == 4


@pytest.mark.parametrize("event", [
    link_event("veth", 4),  # a guest
    link_event("tun", 4),  # a guest
    link_event(None, 5),  # another bridge (not ours, or already running STP)
    link_event(None, None),  # no master at all
    link_event(None, 4, msg_type=RTM_DELLINK),
    # The bridge's own AF_BRIDGE port notices carry no kind even for a veth.
    link_event(None, 4, family=socket.AF_BRIDGE),
])
def test_other_link_events_are_ignored(event: Any) -> None:
    assert joined_non_edge(event, {4}) is None


def test_port_state_goes_through_the_af_bridge_path() -> None:
    msg = port_state_request(9, 0)
    msg.encode()
    data = bytes(msg.data)
    assert msg["family"] == socket.AF_BRIDGE and msg["index"] == 9
    # IFLA_PROTINFO (12) flagged nested, holding IFLA_BRPORT_STATE (1) = 0: without the
    # flag the kernel reads the first payload byte as a state (old binary form).
    # After the 16-byte netlink and 16-byte ifinfomsg headers: length 12, type.
    length, nla_type = (int.from_bytes(data[i:i + 2], "little") for i in (32, 34))
    assert (length, nla_type) == (12, 12 | NLA_F_NESTED)
    assert data[36:41] == bytes([5, 0, 1, 0, 0])  # length 5, type 1, value 0


def test_recheck_request_is_an_empty_bridge_port_change() -> None:
    msg = port_recheck_request(9)
    msg.encode()
    decoded = ifinfmsg(msg.data)
    decoded.decode()
    assert decoded.get(("linkinfo", "slave_kind")) == "bridge"
    assert decoded["index"] == 9


def test_ports_dump_is_filtered_by_master() -> None:
    msg = ports_request(4)
    msg.encode()
    decoded = ifinfmsg(msg.data)
    decoded.decode()
    assert decoded.get("master") == 4
    assert decoded["index"] == 0  # the kernel refuses an index filter on link dumps
