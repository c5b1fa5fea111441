"""Golden files and properties of the pure firewall builder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.firewall_cases import CASES, V4, network
from vnetd.errors import InvalidArgument
from vnetd.firewall import rules
from vnetd.model import Bridge, Forward, ForwardMode, NetworkDefinition

GOLDEN = Path(__file__).parent / "golden" / "firewall"
UPDATE = os.environ.get("VNETD_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_document(case: str) -> None:
    network_rules = rules.build_network(CASES[case])
    # An open network gets no transaction at all (apply sends nothing).
    built = rules.apply_commands(network_rules) if network_rules.chains else []
    text = json.dumps(rules.document(built), indent=1, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{case}.json"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with VNETD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def _chain(built: rules.NetworkRules, suffix: str) -> list[rules.Rule]:
    for name, chain_rules in built.chains:
        if name.endswith(f"-{suffix}"):
            return list(chain_rules)
    return []


def test_open_installs_nothing() -> None:
    built = rules.build_network(CASES["open"])
    assert built.chains == () and built.elements == ()


def test_isolated_has_no_nat_and_rejects_both_ways() -> None:
    built = rules.build_network(CASES["isolated"])
    assert _chain(built, "nat") == []
    for suffix in ("in", "out"):
        assert _chain(built, suffix)[-1].expr[-1] == rules.REJECT
    # Only IPv4 is rejected when the network has no IPv6 (libvirt's rule).
    assert {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}} in \
        _chain(built, "out")[-1].expr


def test_ipv6_yes_rejects_both_families() -> None:
    built = rules.build_network(CASES["isolated-ipv6"])
    reject = _chain(built, "out")[-1]
    assert all("nfproto" not in json.dumps(e) for e in reject.expr)


def test_cross_accept_comes_first_and_carries_name() -> None:
    built = rules.build_network(CASES["nat"])
    first = _chain(built, "in")[0]
    assert first.comment == "default"
    assert {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "virbr0"}} \
        in first.expr


def test_nat_ipv6_without_masquerade_routes_ipv6() -> None:
    built = rules.build_network(CASES["nat-ipv6-routed"])
    assert all("ip6" not in json.dumps(r.expr) for r in _chain(built, "nat"))
    assert [e.map for e in built.elements] == ["to_bridge", "from_bridge", "nat4"]


def test_missing_bridge_is_refused() -> None:
    definition = NetworkDefinition(name="x", forward=Forward(), ips=(V4,))
    with pytest.raises(InvalidArgument, match="bridge"):
        rules.build_network(definition)


def test_hardware_mode_is_refused() -> None:
    definition = NetworkDefinition(name="x", bridge=Bridge(name="br0"),
                                   forward=Forward(mode=ForwardMode.BRIDGE))
    with pytest.raises(InvalidArgument, match="forward mode 'bridge'"):
        rules.build_network(definition)


def test_too_long_name_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="too long"):
        rules.build_network(network(Forward(), name="n" * (rules.MAX_NAME_BYTES + 1)))


@given(st.text(min_size=1, max_size=80))
def test_chain_ids_are_safe_and_recognised(name: str) -> None:
    ids = rules.chain_ids(name)
    for chain in ids.all():
        assert rules.is_network_chain(chain)
        assert chain.isascii() and len(chain) < 64
    assert ids == rules.chain_ids(name)


def test_chain_ids_differ_when_sanitized_names_collide() -> None:
    assert rules.chain_ids("a.b") != rules.chain_ids("a_b")
