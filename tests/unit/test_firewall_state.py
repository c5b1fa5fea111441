"""Reading the table back: name recovery, ownership, verify, against a listing shaped
as `nft -j list table inet vnetd` prints it (built here from the builder's commands)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from tests.unit.firewall_cases import CASES, network
from vnetd.firewall import rules, state
from vnetd.model import Bridge, Forward, IpConfig, NetworkDefinition


def _listed_key(key: Any) -> Any:
    if isinstance(key, dict) and "range" in key:
        low, high = key["range"]
        net = next(ipaddress.summarize_address_range(ipaddress.ip_address(low),
                                                     ipaddress.ip_address(high)))
        return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    return key


def fake_listing(*definitions: NetworkDefinition) -> dict[str, Any]:
    """What the kernel would list after applying ``definitions``: counters get values,
    interval keys come back as prefixes, every object gets a handle."""
    items: list[dict[str, Any]] = [{"table": {"family": "inet", "name": "vnetd", "handle": 1}}]
    chains: dict[str, dict[str, Any]] = {}
    maps: dict[str, dict[str, Any]] = {}
    sets: dict[str, dict[str, Any]] = {}
    chain_rules: dict[str, list[dict[str, Any]]] = {}
    for definition in definitions:
        for cmd in rules.apply_commands(rules.build_network(definition)):
            verb, body = next(iter(cmd.items()))
            kind, obj = next(iter(body.items()))
            if verb == "add" and kind == "chain":
                chains.setdefault(obj["name"], dict(obj))
                chain_rules.setdefault(obj["name"], [])
            elif verb == "flush" and kind == "chain":
                chain_rules[obj["name"]] = []
            elif verb == "add" and kind == "rule":
                rule = copy.deepcopy(obj)
                rule["expr"] = [{"counter": {"packets": 3, "bytes": 180}}
                                if e == {"counter": None} else e for e in rule["expr"]]
                chain_rules[obj["chain"]].append(rule)
            elif verb == "add" and kind == "map":
                maps.setdefault(obj["name"], {**obj, "elem": []})
            elif verb == "add" and kind == "set":
                sets.setdefault(obj["name"], {**obj, "elem": []})
            elif verb == "add" and kind == "element" and obj["name"] in sets:
                sets[obj["name"]]["elem"].extend(obj["elem"])  # as listed: concat + comment
            elif verb == "add" and kind == "element":
                maps[obj["name"]]["elem"].extend(
                    [_listed_key(k), v] for k, v in obj["elem"])
    items += [{"map": m} for m in maps.values()]
    items += [{"set": m} for m in sets.values()]
    items += [{"chain": c} for c in chains.values()]
    for name, listed in chain_rules.items():
        items += [{"rule": {**r, "chain": name, "handle": 10 + i}} for i, r in enumerate(listed)]
    return {"nftables": items}


def test_installed_networks_from_comments() -> None:
    other = NetworkDefinition(name="lab net/ü", bridge=Bridge(name="virbr7"),
                              forward=Forward(), ips=(IpConfig(address="10.7.0.1", prefix=24),))
    table = state.parse_table(fake_listing(CASES["nat"], other, CASES["isolated"]))
    assert state.installed_networks(table) == {"default", "lab net/ü"}


def test_verify_accepts_what_apply_builds() -> None:
    for case, definition in CASES.items():
        table = state.parse_table(fake_listing(definition))
        assert state.network_problems(table, rules.build_network(definition)) == [], case


def test_verify_notices_changed_rule_missing_chain_and_flush() -> None:
    definition = CASES["nat"]
    built = rules.build_network(definition)
    listing = fake_listing(definition)
    edited = copy.deepcopy(listing)
    for item in edited["nftables"]:
        if "rule" in item and item["rule"]["chain"].endswith("-nat"):
            item["rule"]["expr"][-1] = {"masquerade": None}
    assert any("differ" in p for p in state.network_problems(state.parse_table(edited), built))

    missing = {"nftables": [i for i in listing["nftables"]
                            if not ("chain" in i and i["chain"]["name"].endswith("-out"))
                            and not ("rule" in i and i["rule"]["chain"].endswith("-out"))]}
    assert "missing" in " ".join(state.network_problems(state.parse_table(missing), built))

    flushed = {"nftables": [i for i in listing["nftables"] if "rule" not in i]}
    problems = state.network_problems(state.parse_table(flushed), built)
    assert any("dispatch rules" in p for p in problems)

    assert state.network_problems(state.parse_table(None), built)[0].startswith("table")


def test_verify_notices_a_changed_subnet() -> None:
    before = CASES["nat"]
    after = network(Forward(), IpConfig(address="192.168.99.1", prefix=24))
    table = state.parse_table(fake_listing(before))
    assert state.network_problems(table, rules.build_network(after))


def test_owned_lists_only_this_networks_objects() -> None:
    other = NetworkDefinition(name="other", bridge=Bridge(name="virbr9"), forward=Forward(),
                              ips=(IpConfig(address="10.9.0.1", prefix=24),))
    table = state.parse_table(fake_listing(CASES["nat"], other))
    elements, chains = state.owned(table, "other")
    assert chains == set(rules.chain_ids("other").all())
    assert sorted(m for m, _ in elements) == ["from_bridge", "home4", "listen4", "listen4",
                                              "nat4", "to_bridge"]
    assert ("to_bridge", "virbr9") in elements
    assert ("home4", {"concat": ["10.9.0.1", "virbr9"]}) in elements


def test_open_network_verifies_when_nothing_is_installed() -> None:
    built = rules.build_network(CASES["open"])
    assert state.network_problems(state.parse_table(None), built) == []
    table = state.parse_table(fake_listing(network(Forward())))
    assert state.network_problems(table, built)  # leftovers from another mode


def test_a_foreign_chain_with_a_forged_comment_is_ignored() -> None:
    listing = fake_listing(CASES["nat"])
    listing["nftables"].append({"chain": {"family": "inet", "table": "vnetd",
                                          "name": "nw-x-00000000-in"}})
    listing["nftables"].append({"rule": {"chain": "nw-x-00000000-in", "comment": "x",
                                         "expr": [{"accept": None}]}})
    assert state.installed_networks(state.parse_table(listing)) == {"default"}


def _skeleton_view(table: state.TableState) -> tuple[Any, ...]:
    """What the applier's cache must agree on with a listing: which networks own which
    chains and elements (keys compared as values: the kernel lists ranges as prefixes)."""
    names = ("default", "other", "third")
    view = []
    for name in names:
        elements, chains = state.owned(table, name)
        view.append((name, sorted(chains),
                     sorted((m, str(state.element_key(k))) for m, k in elements)))
    return table.exists, tuple(view)


def test_cache_updates_agree_with_what_the_kernel_would_list() -> None:
    other = NetworkDefinition(name="other", bridge=Bridge(name="virbr9"), forward=Forward(),
                              ips=(IpConfig(address="10.9.0.1", prefix=24),))
    # Isolated (no <forward>): other chains than nat, no nat elements.
    third = NetworkDefinition(name="third", bridge=Bridge(name="virbr8"),
                              ips=(IpConfig(address="10.8.0.1", prefix=24),))
    start = state.parse_table(fake_listing(CASES["nat"], other))
    # Applying a network on top of a listing = listing with that network too.
    added = state.with_network(start, "third", rules.build_network(third))
    assert _skeleton_view(added) == _skeleton_view(
        state.parse_table(fake_listing(CASES["nat"], other, third)))
    # Re-applying with another definition replaces the old chains and elements.
    routed = state.with_network(added, "default", rules.build_network(CASES["route"]))
    assert _skeleton_view(routed) == _skeleton_view(
        state.parse_table(fake_listing(CASES["route"], other, third)))
    # Removing gives the listing without it; the input is left as it was.
    removed = state.without_network(routed, "other")
    assert _skeleton_view(removed) == _skeleton_view(
        state.parse_table(fake_listing(CASES["route"], third)))
    assert _skeleton_view(routed) == _skeleton_view(
        state.parse_table(fake_listing(CASES["route"], other, third)))
    # An open network has no rules: applying it only drops what it had.
    opened = state.with_network(removed, "default", rules.build_network(CASES["open"]))
    assert _skeleton_view(opened) == _skeleton_view(
        state.parse_table(fake_listing(third)))


def test_a_guard_alone_then_the_full_apply_agree_with_the_listing() -> None:
    """Start order: the guard part first (before dnsmasq), then the whole network. The
    cache after each must be what the kernel lists, or a remove in between (a dnsmasq
    that failed to start) would leave the guard behind."""
    other = NetworkDefinition(name="other", bridge=Bridge(name="virbr9"), forward=Forward(),
                              ips=(IpConfig(address="10.9.0.1", prefix=24),))
    start = state.parse_table(fake_listing(CASES["nat"]))
    built = rules.build_network(other)
    part = rules.guard_part(built)
    assert part is not None and part.chains == () and part.elements == ()
    guarded = state.with_added(start, part)
    elements, chains = state.owned(guarded, "other")
    assert chains == set()
    assert sorted(m for m, _ in elements) == ["home4", "listen4", "listen4"]
    assert "other" in state.installed_networks(guarded)  # found again, for clean-up
    assert state.owned(start, "other") == ([], set())  # the input is left as it was
    # The guard again (a live update), then the full apply: each member once.
    full = state.with_network(state.with_added(guarded, part), "other", built)
    assert _skeleton_view(full) == _skeleton_view(
        state.parse_table(fake_listing(CASES["nat"], other)))
    assert _skeleton_view(state.without_network(guarded, "other")) == _skeleton_view(start)
