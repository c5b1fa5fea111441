"""Pure rules of ``<port isolated='yes'>`` (vnetd.bridge.isolation): which ports get the
kernel's isolated flag, which link events show one joining, and adoption's judgement."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pyroute2.netlink.rtnl import RTM_DELLINK

from tests.unit.link_events import link_event
from tests.unit.test_bridge_survey import NO_V6, V4, bridge, net
from vnetd.bridge.isolation import joined_unisolated, unisolated
from vnetd.bridge.stp import port_fact
from vnetd.bridge.stp_rules import PortFact, Wanted
from vnetd.bridge.survey import check

TAP = PortFact(20, "vnet0", "tun", 3, isolated=False)
VETH = PortFact(22, "vg0", "veth", 3, isolated=False)
NIC = PortFact(21, "eth1", None, 3, isolated=False)


def test_only_guest_ports_not_yet_flagged_are_isolated() -> None:
    flagged = PortFact(23, "vnet1", "tun", 3, isolated=True)
    assert unisolated([TAP, VETH, NIC, flagged]) == [TAP, VETH]


def test_a_guest_port_joining_an_isolating_bridge_is_noticed() -> None:
    assert joined_unisolated(link_event("tun", 4), {4}) == 9
    assert joined_unisolated(link_event("veth", 4, isolated=0), {4, 7}) == 9


@pytest.mark.parametrize("event", [
    link_event("veth", 4, isolated=1),  # already flagged (the echo of our own change)
    link_event(None, 4),  # a NIC: left unflagged, as libvirt leaves it
    link_event("macvlan", 4),
    link_event("tun", 5),  # a bridge that does not isolate
    link_event("tun", None),  # no master at all
    link_event("tun", 4, msg_type=RTM_DELLINK),
    link_event("tun", 4, family=socket.AF_BRIDGE),  # the bridge's own port notice
])
def test_other_link_events_are_ignored(event: Any) -> None:
    assert joined_unisolated(event, {4}) is None


def test_port_facts_carry_the_flag() -> None:
    assert port_fact(link_event("tun", 4, isolated=1)).isolated is True
    assert port_fact(link_event("tun", 4, isolated=0)).isolated is False
    assert port_fact(link_event("tun", 4)).isolated is False


def test_adoption_leaves_a_guest_port_that_joined_unflagged_to_ensure() -> None:
    isolating = net(port_isolated=True)
    assert check(isolating, bridge(), V4, [TAP], NO_V6) is None
    found = check(isolating, bridge(), V4, [PortFact(20, "vnet0", "tun", 3, True)], NO_V6)
    assert found is not None and found.isolates_ports
    assert found.stp_pending == Wanted("virbr5", 200, 0)
    # Without <port isolated> the flag is nobody's business, and the bridge is not followed.
    plain = check(net(), bridge(), V4, [TAP], NO_V6)
    assert plain is not None and not plain.isolates_ports


def test_adoption_ignores_an_unflagged_nic() -> None:
    found = check(net(port_isolated=True), bridge(stp_state=1, forward_delay=200), V4,
                  [PortFact(20, "vnet0", "tun", 3, True), NIC], NO_V6)
    assert found is not None and found.isolates_ports
