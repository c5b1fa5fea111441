"""Which ports a network's dnsmasq listens on, and which networks' dnsmasq the firewall
guards (the one place the dnsmasq conf and the firewall builder both read)."""

from __future__ import annotations

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
    (CASES["route"], DNS, True),
    (CASES["isolated"], DNS, True),
    (CASES["open"], DNS, False),  # no firewall of vnetd's: dnsmasq keeps bind-dynamic
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


def _guard(built: rules.NetworkRules) -> tuple[str, tuple[rules.Rule, ...]] | None:
    return next(((n, r) for n, r in built.chains if n.endswith("-guard")), None)


def test_guard_chain_passes_the_bridge_and_lo_and_drops_dnsmasqs_ports() -> None:
    built = rules.build_network(network(Forward(), TFTP_IP, V6))
    guard = _guard(built)
    assert guard is not None
    name, chain = guard
    assert name == rules.chain_ids("default").guard
    assert chain[0].comment == "default"  # the chain -> network mapping, as for the others
    assert [json.dumps(r.expr) for r in chain[:2]] == [
        json.dumps([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}},
                               "right": iface}}, {"return": None}])
        for iface in ("virbr0", "lo")]
    dropped = [(r.expr[0]["match"]["left"]["payload"]["protocol"], r.expr[0]["match"]["right"])
               for r in chain[2:]]
    assert dropped == [("tcp", 53), ("udp", 53), ("udp", 69)]
    assert all(r.expr[-1] == rules.DROP for r in chain[2:])
    assert {(e.map, e.key, e.chain) for e in built.elements if e.chain == name} == {
        ("guard4", "192.168.122.1", name), ("guard6", "2001:db8:ca2:2::1", name)}


def test_nothing_to_guard_means_no_guard_chain() -> None:
    assert _guard(rules.build_network(DHCP_ONLY)) is None
    assert rules.guard_part(rules.build_network(DHCP_ONLY)) is None


def test_guard_part_is_the_guard_alone() -> None:
    built = rules.build_network(CASES["nat"])
    part = rules.guard_part(built)
    assert part is not None
    assert part.chain_names() == {rules.chain_ids("default").guard}
    assert [e.map for e in part.elements] == ["guard4"]
    # Applied alone it is a complete transaction: table, base chains, maps, dispatch.
    cmds = rules.apply_commands(part)
    assert {"add": {"table": {"family": "inet", "name": "vnetd"}}} in cmds
    assert sum(1 for c in cmds if "add" in c and "map" in c["add"]) == len(rules.MAPS)
