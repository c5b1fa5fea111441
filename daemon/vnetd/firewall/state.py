"""Pure reading of vnetd's table as `nft -j list table inet vnetd` prints it.

Used for three things that must work from the kernel alone (no state file): which
networks have rules (``installed_networks``), what a network owns (so that apply can
drop what it no longer wants and remove can delete it), and whether the installed
rules are exactly what the builder makes (``verify``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from .rules import (
    FAMILY,
    INPUT_CHAIN,
    MAPS,
    POSTROUTING_CHAIN,
    PRIORITY_FILTER,
    PRIORITY_SRCNAT,
    SETS,
    TABLE,
    ElementRef,
    Json,
    NetworkRules,
    Rule,
    base_chain_rules,
    chain_ids,
    is_network_chain,
)

_BASE_SPECS: dict[str, tuple[str, str, int]] = {
    "forward": ("filter", "forward", PRIORITY_FILTER),
    POSTROUTING_CHAIN: ("nat", "postrouting", PRIORITY_SRCNAT),
    INPUT_CHAIN: ("filter", "input", PRIORITY_FILTER),
}


@dataclass
class ChainState:
    """A chain of the table as listed: its base-chain hook, if any, and rules."""

    name: str
    base: tuple[str, str, int, str] | None  # (type, hook, prio, policy) for base chains
    rules: list[Rule] = field(default_factory=list)


@dataclass
class MapState:
    """A verdict map of the table as listed."""

    name: str
    key_type: str
    interval: bool
    verdict: bool
    elements: list[tuple[Any, str | None]] = field(default_factory=list)  # (listed key, target)


@dataclass
class SetState:
    """A set of the table as listed."""

    name: str
    types: tuple[str, ...]
    members: list[tuple[Any, str | None]] = field(default_factory=list)  # (listed key, owner)


@dataclass
class TableState:
    """``inet vnetd`` as one listing found it."""

    exists: bool
    chains: dict[str, ChainState] = field(default_factory=dict)
    maps: dict[str, MapState] = field(default_factory=dict)
    sets: dict[str, SetState] = field(default_factory=dict)


_NO_COUNT: Json = {"counter": None}


def _normalize_statement(statement: Any) -> Any:
    if isinstance(statement, dict) and len(statement) == 1 and "counter" in statement:
        return _NO_COUNT
    return statement


def normalize_rule(rule: Rule) -> Rule:
    """Drop what the kernel adds to a listing that the builder cannot know (counter
    values); everything else must be byte-equal. A counter is a statement of its own at
    the top of a rule's expression list (the builder puts it nowhere else), so only the
    top level is looked at: walking every nested expression cost 50 ms per listing of
    100 networks."""
    return Rule(tuple(_normalize_statement(s) for s in rule.expr), rule.comment)


def parse_table(listing: Json | None) -> TableState:
    """``listing`` is the parsed JSON output, or None when the table does not exist."""
    if not listing:
        return TableState(exists=False)
    state = TableState(exists=False)
    for item in listing.get("nftables", []):
        if "table" in item:
            table = item["table"]
            if table.get("family") == FAMILY and table.get("name") == TABLE:
                state.exists = True
        elif "chain" in item:
            chain = item["chain"]
            base = None
            if "hook" in chain:
                base = (chain.get("type", ""), chain["hook"], int(chain.get("prio", 0)),
                        chain.get("policy", "accept"))
            state.chains[chain["name"]] = ChainState(chain["name"], base)
        elif "map" in item:
            spec = item["map"]
            entry = MapState(spec["name"], str(spec.get("type")),
                             "interval" in spec.get("flags", []), spec.get("map") == "verdict")
            for key, value in spec.get("elem", []):
                target = None
                if isinstance(value, dict):
                    verdict = value.get("jump") or value.get("goto")
                    if isinstance(verdict, dict):
                        target = verdict.get("target")
                entry.elements.append((key, target))
            state.maps[spec["name"]] = entry
        elif "set" in item:
            spec = item["set"]
            types = spec.get("type")
            members = SetState(spec["name"], tuple(types) if isinstance(types, list)
                               else (str(types),))
            for elem in spec.get("elem", []):
                inner = elem.get("elem") if isinstance(elem, dict) else None
                if isinstance(inner, dict):
                    members.members.append((inner.get("val"), inner.get("comment")))
                else:
                    members.members.append((elem, None))
            state.sets[spec["name"]] = members
        elif "rule" in item:
            rule = item["rule"]
            chain_state = state.chains.get(rule["chain"])
            if chain_state is not None:
                chain_state.rules.append(
                    normalize_rule(Rule(tuple(rule.get("expr", [])), rule.get("comment"))))
    return state


def installed_networks(state: TableState) -> set[str]:
    """Network names recovered from the comment on the first rule of each chain; a
    chain whose comment does not hash to its own name is not vnetd's and is ignored."""
    names: set[str] = set()
    for chain in state.chains.values():
        if not is_network_chain(chain.name) or not chain.rules:
            continue
        name = chain.rules[0].comment
        if name and chain.name in chain_ids(name).all():
            names.add(name)
    # A start that ended between the guard and the full transaction leaves members only.
    names.update(owner for set_state in state.sets.values()
                 for _, owner in set_state.members if owner)
    return names


def owned(state: TableState, network_name: str) -> tuple[list[ElementRef], set[str]]:
    """The map elements and chains of this network present in the kernel."""
    ids = set(chain_ids(network_name).all())
    chains = {name for name in state.chains if name in ids}
    elements: list[ElementRef] = []
    for map_state in state.maps.values():
        elements.extend((map_state.name, key) for key, target in map_state.elements
                        if target in ids)
    for set_state in state.sets.values():
        elements.extend((set_state.name, key) for key, owner in set_state.members
                        if owner == network_name)
    return elements, chains


def element_key(key: Any) -> Any:
    """A listed or built element key as a comparable value."""
    if isinstance(key, dict) and "elem" in key:
        key = key["elem"].get("val")
    if isinstance(key, dict) and "concat" in key:
        return tuple(element_key(part) for part in key["concat"])
    if isinstance(key, int):
        return key
    if isinstance(key, dict) and "prefix" in key:
        return ipaddress.ip_network(f"{key['prefix']['addr']}/{key['prefix']['len']}")
    if isinstance(key, dict) and "range" in key:
        low, high = key["range"]
        nets = list(ipaddress.summarize_address_range(ipaddress.ip_address(low),
                                                      ipaddress.ip_address(high)))
        if len(nets) == 1 and isinstance(nets[0], ipaddress.IPv4Network | ipaddress.IPv6Network):
            return nets[0]
        return f"{low}-{high}"
    if isinstance(key, str) and (":" in key or key.replace(".", "").isdigit()):
        try:
            return ipaddress.ip_network(key)
        except ValueError:
            return key
    return str(key)


def skeleton_problems(state: TableState) -> list[str]:
    problems: list[str] = []
    if not state.exists:
        return [f"table {FAMILY} {TABLE} is missing"]
    for name, (kind, hook, prio) in _BASE_SPECS.items():
        chain = state.chains.get(name)
        if chain is None or chain.base != (kind, hook, prio, "accept"):
            problems.append(f"base chain {name} is missing or changed")
            continue
        want = [normalize_rule(rule) for rule in base_chain_rules()[name]]
        if chain.rules != want:
            problems.append(f"dispatch rules of base chain {name} changed")
    for name, (key_type, interval) in MAPS.items():
        map_state = state.maps.get(name)
        if map_state is None or (map_state.key_type, map_state.interval,
                                 map_state.verdict) != (key_type, interval, True):
            problems.append(f"map {name} is missing or changed")
    for name, types in SETS.items():
        set_state = state.sets.get(name)
        if set_state is None or set_state.types != types:
            problems.append(f"set {name} is missing or changed")
    return problems


@dataclass(frozen=True)
class Index:
    """What every network's check needs from a listing, worked out once per listing:
    checking 100 networks redid it per network (each walked every map element)."""

    skeleton: tuple[str, ...]  # skeleton_problems
    elements: dict[str, list[tuple[str, Any]]]  # (map, listed key) by target chain
    members: dict[str, list[tuple[str, Any]]]  # (set, listed key) by owner


def index(state: TableState) -> Index:
    elements: dict[str, list[tuple[str, Any]]] = {}
    for name, map_state in state.maps.items():
        for key, target in map_state.elements:
            if target is not None:
                elements.setdefault(target, []).append((name, key))
    members: dict[str, list[tuple[str, Any]]] = {}
    for name, set_state in state.sets.items():
        for key, owner in set_state.members:
            if owner is not None:
                members.setdefault(owner, []).append((name, key))
    return Index(tuple(skeleton_problems(state)), elements, members)


def network_problems(state: TableState, rules: NetworkRules,
                     found: Index | None = None) -> list[str]:
    """Differences between what the kernel holds for this network and ``rules``;
    empty when they match (rule expressions and comments, not handles or counters).
    ``found`` is ``index(state)`` when many networks are checked against one listing."""
    if found is None:
        found = index(state)
    problems: list[str] = []
    if not rules.empty():
        problems.extend(found.skeleton)
    ids = chain_ids(rules.name).all()
    chains = {name for name in ids if name in state.chains}
    for chain, want in rules.chains:
        have = state.chains.get(chain)
        if have is None:
            problems.append(f"chain {chain} is missing")
        elif have.base is not None or have.rules != [normalize_rule(r) for r in want]:
            problems.append(f"rules of chain {chain} differ")
    extra = chains - rules.chain_names()
    if extra:
        problems.append(f"unexpected chains {sorted(extra)}")
    have_elements = {(m, element_key(k), t) for t in ids for m, k in found.elements.get(t, ())}
    want_elements = {(e.map, element_key(e.key_json()), e.chain) for e in rules.elements}
    if have_elements != want_elements:
        problems.append(f"map elements differ: missing "
                        f"{sorted(map(str, want_elements - have_elements))}, unexpected "
                        f"{sorted(map(str, have_elements - want_elements))}")
    have_members = {(s, element_key(k)) for s, k in found.members.get(rules.name, ())}
    want_members = {(m.set, element_key(m.key_json())) for m in rules.members}
    if have_members != want_members:
        problems.append(f"set members differ: missing "
                        f"{sorted(map(str, want_members - have_members))}, unexpected "
                        f"{sorted(map(str, have_members - want_members))}")
    return problems


def without_network(state: TableState, network_name: str) -> TableState:
    """``state`` after a transaction removed this network's chains and map elements."""
    ids = set(chain_ids(network_name).all())
    return TableState(
        exists=state.exists,
        chains={name: chain for name, chain in state.chains.items() if name not in ids},
        maps={name: MapState(m.name, m.key_type, m.interval, m.verdict,
                             [(key, target) for key, target in m.elements
                              if target not in ids])
              for name, m in state.maps.items()},
        sets={name: SetState(s.name, s.types, [(key, owner) for key, owner in s.members
                                               if owner != network_name])
              for name, s in state.sets.items()})


def with_network(state: TableState, network_name: str, rules: NetworkRules) -> TableState:
    """``state`` after ``apply_commands(rules, ...)`` made the table hold exactly ``rules``
    for this network (chains without their rules, as the skeleton listing has them)."""
    return _add(without_network(state, network_name), rules)  # a fresh copy already


def with_added(state: TableState, rules: NetworkRules) -> TableState:
    """``state`` after a transaction added ``rules`` and removed nothing (a copy: the
    applier's cache is replaced, never changed in place)."""
    return _add(TableState(state.exists, dict(state.chains),
                           {name: MapState(m.name, m.key_type, m.interval, m.verdict,
                                           list(m.elements))
                            for name, m in state.maps.items()},
                           {name: SetState(s.name, s.types, list(s.members))
                            for name, s in state.sets.items()}), rules)


def _add(after: TableState, rules: NetworkRules) -> TableState:
    """``after`` (a copy of the caller's own) with ``rules`` added in place."""
    if rules.empty():
        return after
    after.exists = True
    for name, (kind, hook, prio) in _BASE_SPECS.items():  # a transaction needs them
        after.chains.setdefault(name, ChainState(name, (kind, hook, prio, "accept")))
    for name, (key_type, interval) in MAPS.items():
        after.maps.setdefault(name, MapState(name, key_type, interval, True))
    for name, types in SETS.items():
        after.sets.setdefault(name, SetState(name, types))
    for member in rules.members:  # a guard, then the full apply: each member once
        have = after.sets[member.set].members
        key = element_key(member.key_json())
        # Only the owner's own members are parsed: parsing every member of the set cost
        # ~5 ms per start with 100 networks.
        if all(element_key(k) != key for k, owner in have if owner == member.owner):
            have.append((member.key_json(), member.owner))
    for chain, _rules in rules.chains:
        after.chains[chain] = ChainState(chain, None)
    for element in rules.elements:
        after.maps[element.map].elements.append((element.key_json(), element.chain))
    return after
