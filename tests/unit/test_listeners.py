"""Which ports a network's dnsmasq listens on, and which networks' dnsmasq the firewall
guards (the one place the dnsmasq conf and the firewall builder both read)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.unit.firewall_cases import CASES, V4, V6, network
from vnetd import listeners
from vnetd.firewall import rules
from vnetd.model import (
    Dhcp,
    DhcpRange,
    Dns,
    Forward,
    ForwardMode,
    IpConfig,
    NetworkDefinition,
)

DNS = (("tcp", 53), ("udp", 53))
TFTP_IP = IpConfig(address="192.168.122.1", netmask="255.255.255.0", tftp_root="/srv/tftp",
                   dhcp=Dhcp(ranges=(DhcpRange("192.168.122.2", "192.168.122.9"),)))
DHCP_ONLY = NetworkDefinition(
    name="d", bridge=CASES["nat"].bridge, forward=Forward(), dns=Dns(enable=False),
    ips=(IpConfig(address="192.168.122.1", netmask="255.255.255.0",
                  dhcp=Dhcp(ranges=(DhcpRange("192.168.122.2", "192.168.122.9"),))),))


@pytest.mark.parametrize(("definition", "ports", "guarded"), [
    (CASES["nat"], DNS, True),
    (CASES["route"], DNS, False),  # has IPv6
    (network(Forward(mode=ForwardMode.ROUTE)), DNS, True),
    (CASES["isolated"], DNS, True),
    (CASES["open"], DNS, False),  # no firewall of vnetd's: dnsmasq keeps bind-dynamic
    # RDNSS names the bridge's link-local address: vnetd adds it before dnsmasq starts,
    # which takes the network's MAC; without one, dnsmasq keeps bind-dynamic.
    (CASES["nat-ipv6"], DNS, False),
    (dataclasses.replace(CASES["nat-ipv6"], mac="52:54:00:0a:0b:0c"), DNS, True),
    (network(Forward(), TFTP_IP), (*DNS, ("udp", 69)), True),
    (DHCP_ONLY, (), True),  # DHCP only: no socket on the address, nothing to guard
    (NetworkDefinition(name="x", bridge=CASES["nat"].bridge, forward=Forward(),
                       dns=Dns(enable=False), ips=(V4,)), (), False),  # no dnsmasq
    (NetworkDefinition(name="x", bridge=CASES["nat"].bridge,
                       forward=Forward(mode=ForwardMode.BRIDGE), ips=(V4,)), (), False),
])
def test_ports_and_guard(definition: NetworkDefinition, ports: tuple[tuple[str, int], ...],
                         guarded: bool) -> None:
    assert listeners.listen_ports(definition) == ports
    assert listeners.guarded(definition) is guarded


def test_guard_members_say_where_dnsmasq_listens_and_on_which_bridge() -> None:
    built = rules.build_network(network(Forward(), TFTP_IP, V6))
    assert {(m.set, m.key, m.owner) for m in built.members} == {
        ("listen4", ("192.168.122.1", "tcp", 53), "default"),
        ("listen4", ("192.168.122.1", "udp", 53), "default"),
        ("listen4", ("192.168.122.1", "udp", 69), "default"),
        ("home4", ("192.168.122.1", "virbr0"), "default"),
        ("listen6", ("2001:db8:ca2:2::1", "tcp", 53), "default"),
        ("listen6", ("2001:db8:ca2:2::1", "udp", 53), "default"),
        ("listen6", ("2001:db8:ca2:2::1", "udp", 69), "default"),
        ("home6", ("2001:db8:ca2:2::1", "virbr0"), "default")}
    # Found again from the kernel by the comment each carries.
    assert built.members[0].elem_json()["elem"]["comment"] == "default"


def test_the_input_chain_drops_what_reaches_a_listener_from_elsewhere() -> None:
    (v4, v6) = rules.base_chain_rules()[rules.INPUT_CHAIN]
    text = json.dumps(v4.expr)
    assert '"right": "@listen4"' in text and '"op": "!=", "left": {"concat": [{"payload": ' \
        '{"protocol": "ip", "field": "daddr"}}, {"meta": {"key": "iifname"}}]}, ' \
        '"right": "@home4"' in text
    assert {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "lo"}} \
        in v4.expr
    assert v4.expr[-1] == rules.DROP and "@listen6" in json.dumps(v6.expr)


def test_nothing_to_guard_means_no_members() -> None:
    assert rules.build_network(DHCP_ONLY).members == ()
    assert rules.guard_part(rules.build_network(DHCP_ONLY)) is None
    assert rules.build_network(CASES["open"]).members == ()


def test_guard_part_is_the_members_alone() -> None:
    built = rules.build_network(CASES["nat"])
    part = rules.guard_part(built)
    assert part is not None
    assert (part.chains, part.elements, part.members) == ((), (), built.members)
    # Applied alone onto an empty table it is a complete transaction: table, base
    # chains, sets, maps, dispatch; onto a table known to have them, elements only.
    cmds = rules.apply_commands(part)
    assert {"add": {"table": {"family": "inet", "name": "vnetd"}}} in cmds
    assert sum(1 for c in cmds if "add" in c and "set" in c["add"]) == len(rules.SETS)
    lean = rules.apply_commands(part, skeleton=False)
    assert [(c["add"]["element"]["name"], len(c["add"]["element"]["elem"])) for c in lean] \
        == [("listen4", 2), ("home4", 1)]  # one command per set
