"""Pure builder: a network definition -> the nftables JSON that ``apply`` installs.

Layout of vnetd's one table ``inet vnetd`` (nothing else is ever touched)::

    map to_bridge   { type ifname : verdict }                  oifname -> jump <net>-in
    map from_bridge { type ifname : verdict }                  iifname -> jump <net>-out
    map nat4 { type ipv4_addr : verdict; flags interval }      subnet  -> jump <net>-nat
    map nat6 { type ipv6_addr : verdict; flags interval }
    set listen4 { type ipv4_addr . inet_proto . inet_service }  dnsmasq's address . proto . port
    set home4   { type ipv4_addr . ifname }                        its address . its bridge
    set listen6, home6 (the same for IPv6)
    chain forward     { filter hook forward priority filter;      oifname vmap @to_bridge
                                                                  iifname vmap @from_bridge }
    chain postrouting { nat hook postrouting priority srcnat;     ip saddr vmap @nat4
                                                                  ip6 saddr vmap @nat6 }
    chain input       { filter hook input priority filter;
                        ip daddr . meta l4proto . th dport @listen4 ip daddr . iifname != @home4
                        iifname != "lo" drop; the same for ip6 }
    chain <net>-in  { cross accept; return traffic accept; reject }   (libvirt guest_cross+input)
    chain <net>-out { subnet accept; reject }                         (libvirt guest_output)
    chain <net>-nat { multicast/broadcast return; masquerade/snat }   (libvirt guest_nat)

The input chain is vnetd's own (``vnetd.listeners`` says why): it drops DNS and TFTP to
a bridge's address that arrive neither on that bridge nor from the host itself, which a
``bind-dynamic`` dnsmasq refuses by itself, so that dnsmasq can run with
``bind-interfaces``. A network's share of it is set elements alone, each carrying the
network's name as its comment: adding them is a transaction without chains or rules,
cheap enough to run before dnsmasq starts (measured through libnftables alone, it
added 0.4-1.0 ms to a start with 2-100 networks running, where a chain of its own per
network added 1.4-2.7 ms).

Dispatch through verdict maps makes per-network changes element and chain
operations: adding or removing one network never rewrites another network's rules,
needs no rule handles, and costs one lookup per packet however many networks run.
Because every ``<net>-in`` chain ends in a reject, a packet towards a bridge is
decided by that bridge's network alone, before the sending network's ``-out`` chain,
which is the order libvirt's ``guest_cross``, ``guest_input``, ``guest_output``
chains give.

The first rule of each per-network chain carries the network name as its comment:
nft 1.0.x cannot carry chain comments through JSON, and this keeps the chain ->
network mapping readable from the kernel alone after a daemon restart.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..listeners import listen_ports
from ..model import IPNetwork, NetworkDefinition

Json = dict[str, Any]
Expr = list[Json]

FAMILY = "inet"
TABLE = "vnetd"
TABLE_REF: Json = {"family": FAMILY, "table": TABLE}

# Named hook priorities (nft's "filter" and "srcnat" keywords for the inet family).
PRIORITY_FILTER = 0
PRIORITY_SRCNAT = 100

FORWARD_CHAIN = "forward"
POSTROUTING_CHAIN = "postrouting"
MAP_TO_BRIDGE = "to_bridge"
MAP_FROM_BRIDGE = "from_bridge"
MAP_NAT4 = "nat4"
MAP_NAT6 = "nat6"
INPUT_CHAIN = "input"
SET_LISTEN4 = "listen4"
SET_LISTEN6 = "listen6"
SET_HOME4 = "home4"
SET_HOME6 = "home6"
SETS: dict[str, tuple[str, ...]] = {  # name -> the types of its concatenated key
    SET_LISTEN4: ("ipv4_addr", "inet_proto", "inet_service"),
    SET_HOME4: ("ipv4_addr", "ifname"),
    SET_LISTEN6: ("ipv6_addr", "inet_proto", "inet_service"),
    SET_HOME6: ("ipv6_addr", "ifname"),
}
MAPS: dict[str, tuple[str, bool]] = {  # name -> (key type, interval)
    MAP_TO_BRIDGE: ("ifname", False),
    MAP_FROM_BRIDGE: ("ifname", False),
    MAP_NAT4: ("ipv4_addr", True),
    MAP_NAT6: ("ipv6_addr", True),
}

# Kernel limit for rule user data is 256 bytes including the TLV header.
MAX_NAME_BYTES = 240
DEFAULT_NAT_PORTS = (1024, 65535)
IPV4_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")
IPV4_BROADCAST = "255.255.255.255"
IPV6_MULTICAST = ipaddress.IPv6Network("ff02::/16")

CHAIN_SUFFIXES = ("in", "out", "nat")
_CHAIN_RE = re.compile(r"^nw-[A-Za-z0-9_]{0,24}-[0-9a-f]{8}-(in|out|nat)$")


@dataclass(frozen=True)
class ChainIds:
    """The names of a network's chains in ``inet vnetd``."""

    inbound: str
    outbound: str
    nat: str

    def all(self) -> tuple[str, str, str]:
        return (self.inbound, self.outbound, self.nat)


def check_network_name(name: str) -> None:
    if not name:
        raise InvalidArgument("network name: must not be empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidArgument(
            f"network name: {len(name.encode())} bytes is too long for the firewall "
            f"(at most {MAX_NAME_BYTES} bytes of UTF-8)")


def chain_ids(network_name: str) -> ChainIds:
    """Deterministic nft-safe chain names: sanitized prefix + hash of the full name.

    The hash keeps names unique when sanitizing or truncating maps two networks to
    the same prefix (``a.b`` and ``a_b``)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", network_name)[:24]
    digest = hashlib.sha256(network_name.encode()).hexdigest()[:8]
    base = f"nw-{safe}-{digest}"
    return ChainIds(f"{base}-in", f"{base}-out", f"{base}-nat")


def is_network_chain(chain_name: str) -> bool:
    return _CHAIN_RE.match(chain_name) is not None


# --- expression helpers (written in the form `nft -j list` prints back) ---------

def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _addr(net: IPNetwork, field: str) -> Json:
    return {"payload": {"protocol": "ip" if net.version == 4 else "ip6", "field": field}}


def _net_value(net: IPNetwork | str) -> Any:
    if isinstance(net, str):
        return net
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _counter() -> Json:
    return {"counter": None}


ACCEPT: Json = {"accept": None}
RETURN: Json = {"return": None}
DROP: Json = {"drop": None}
# In an inet table nft lists a bare "reject" as this icmpx form; build it that way
# so that verify() compares like with like.
REJECT: Json = {"reject": {"type": "icmpx", "expr": "port-unreachable"}}


@dataclass(frozen=True)
class Rule:
    """One rule: its nftables JSON expressions and the comment that names its network."""

    expr: tuple[Json, ...]
    comment: str | None = None

    def to_json(self, chain: str) -> Json:
        rule: Json = {**TABLE_REF, "chain": chain, "expr": list(self.expr)}
        if self.comment is not None:
            rule["comment"] = self.comment
        return rule


@dataclass(frozen=True)
class Element:
    """An element of a verdict map: key -> jump to a network's chain."""

    map: str
    key: str | IPNetwork
    chain: str

    def key_json(self) -> Any:
        if isinstance(self.key, str):
            return self.key
        # Ranges, not prefixes: nft 1.0.6 refuses a prefix element added in the same
        # transaction that creates its interval map ("No such file or directory").
        return {"range": [str(self.key.network_address), str(self.key.broadcast_address)]}

    def elem_json(self) -> list[Any]:
        return [self.key_json(), {"jump": {"target": self.chain}}]


@dataclass(frozen=True)
class Member:
    """An element of a set of the input chain's; ``owner`` (the network's name) goes into
    its comment, which is how it is found again in the kernel."""

    set: str
    key: tuple[str | int, ...]
    owner: str

    def key_json(self) -> Json:
        return {"concat": list(self.key)}

    def elem_json(self) -> Json:
        return {"elem": {"val": self.key_json(), "comment": self.owner}}


@dataclass(frozen=True)
class NetworkRules:
    """Everything one network owns in the table: its chains, its map elements and its
    set members."""

    name: str
    chains: tuple[tuple[str, tuple[Rule, ...]], ...]
    elements: tuple[Element, ...]
    members: tuple[Member, ...] = ()

    def chain_names(self) -> set[str]:
        return {name for name, _ in self.chains}

    def empty(self) -> bool:
        return not (self.chains or self.elements or self.members)


# --- the builder -----------------------------------------------------------------

def _generic_families(definition: NetworkDefinition) -> tuple[int, ...]:
    # libvirt adds the IPv4 catch-all rules always, the IPv6 ones only when the
    # network has an IPv6 address or <network ipv6='yes'>.
    if definition.ips_of(6) or definition.ipv6:
        return (4, 6)
    return (4,)


def _nfproto(families: tuple[int, ...]) -> list[Json]:
    if len(families) == 2:
        return []
    return [_match(_meta("nfproto"), "ipv4" if families[0] == 4 else "ipv6")]


def _nat_ports(definition: NetworkDefinition) -> tuple[int, int]:
    nat = definition.forward.nat if definition.forward else None
    if nat is not None and nat.port_start is not None:
        return (nat.port_start, nat.port_end if nat.port_end is not None else nat.port_start)
    return DEFAULT_NAT_PORTS


def _masquerades(net: IPNetwork, definition: NetworkDefinition) -> bool:
    """nat mode masquerades IPv4 always and IPv6 only with <nat ipv6='yes'>."""
    if definition.mode != "nat":
        return False
    if net.version == 4:
        return True
    nat = definition.forward.nat if definition.forward else None
    return bool(nat and nat.ipv6)


def _translation(net: IPNetwork, definition: NetworkDefinition, ports: bool) -> Json:
    nat = definition.forward.nat if definition.forward else None
    low, high = _nat_ports(definition)
    if net.version == 4 and nat is not None and nat.address_start is not None:
        end = nat.address_end or nat.address_start
        addr: Any = (nat.address_start if end == nat.address_start
                     else {"range": [nat.address_start, end]})
        snat: Json = {"family": "ip", "addr": addr}
        if ports:
            snat["port"] = {"range": [low, high]}
        return {"snat": snat}
    if ports:
        return {"masquerade": {"port": {"range": [low, high]}}}
    return {"masquerade": None}


def _nat_rules(net: IPNetwork, definition: NetworkDefinition, dev: list[Json]) -> list[Rule]:
    saddr = _match(_addr(net, "saddr"), _net_value(net))
    outside = _match(_addr(net, "daddr"), _net_value(net), "!=")
    rules: list[Rule] = []
    multicast = IPV4_MULTICAST if net.version == 4 else IPV6_MULTICAST
    rules.append(Rule((saddr, _match(_addr(net, "daddr"), _net_value(multicast)), *dev,
                       _counter(), RETURN)))
    if net.version == 4:
        rules.append(Rule((saddr, _match(_addr(net, "daddr"), IPV4_BROADCAST), *dev,
                           _counter(), RETURN)))
    for proto in ("tcp", "udp"):
        rules.append(Rule((_match(_meta("l4proto"), proto), saddr, outside, *dev, _counter(),
                           _translation(net, definition, ports=True))))
    rules.append(Rule((saddr, outside, *dev, _counter(),
                       _translation(net, definition, ports=False))))
    return rules


def build_network(definition: NetworkDefinition) -> NetworkRules:
    """The chains and map elements ``apply`` installs for ``definition``.

    An ``open`` network gets nothing (it is neither listed as installed nor expected
    by verify); hardware modes have no bridge of vnetd's and are refused."""
    name = definition.name
    check_network_name(name)
    mode = definition.mode
    if mode == "open":
        return NetworkRules(name, (), ())
    if mode not in ("nat", "route", "isolated"):
        raise InvalidArgument(f"forward mode {mode!r}: vnetd installs no firewall for it")
    bridge = definition.bridge_name
    if not bridge:
        raise InvalidArgument(f"network {name!r}: <bridge name> is required for the firewall")
    ids = chain_ids(name)
    dev_name = definition.forward.dev if definition.forward else None
    out_dev = [_match(_meta("oifname"), dev_name)] if dev_name else []
    in_dev = [_match(_meta("iifname"), dev_name)] if dev_name else []
    generic = _nfproto(_generic_families(definition))

    inbound: list[Rule] = [Rule((*generic, _match(_meta("iifname"), bridge), _counter(), ACCEPT))]
    outbound: list[Rule] = []
    nat: list[Rule] = []
    nat_nets: list[IPNetwork] = []
    if mode in ("nat", "route"):
        for ip in definition.ips:
            net = ip.network
            if ip.address is None or net.prefixlen == 0:
                continue  # libvirt skips an <ip> without a usable subnet too
            outbound.append(Rule((_match(_addr(net, "saddr"), _net_value(net)), *out_dev,
                                  _counter(), ACCEPT)))
            daddr = _match(_addr(net, "daddr"), _net_value(net))
            if _masquerades(net, definition):
                related = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
                inbound.append(Rule((*in_dev, daddr, related, _counter(), ACCEPT)))
                nat.extend(_nat_rules(net, definition, out_dev))
                nat_nets.append(net)
            else:
                inbound.append(Rule((*in_dev, daddr, _counter(), ACCEPT)))
    inbound.append(Rule((*generic, _counter(), REJECT)))
    outbound.append(Rule((*generic, _counter(), REJECT)))

    chains: list[tuple[str, list[Rule]]] = [(ids.inbound, inbound), (ids.outbound, outbound)]
    elements = [Element(MAP_TO_BRIDGE, bridge, ids.inbound),
                Element(MAP_FROM_BRIDGE, bridge, ids.outbound)]
    if nat:
        chains.append((ids.nat, nat))
        elements.extend(Element(MAP_NAT4 if net.version == 4 else MAP_NAT6, net, ids.nat)
                        for net in nat_nets)
    named = tuple((chain, _tag(rules, name)) for chain, rules in chains)
    return NetworkRules(name, named, tuple(elements), _guard_members(definition, bridge))


def _guard_members(definition: NetworkDefinition, bridge: str) -> tuple[Member, ...]:
    """Where dnsmasq listens (``vnetd.listeners``) and the bridge each address is on."""
    ports = listen_ports(definition)
    members: list[Member] = []
    for ip in definition.ips:
        if ip.address is None or not ports:
            continue
        address = str(ipaddress.ip_address(ip.address))
        v4 = ip.version == 4
        members.extend(Member(SET_LISTEN4 if v4 else SET_LISTEN6, (address, proto, port),
                              definition.name) for proto, port in ports)
        members.append(Member(SET_HOME4 if v4 else SET_HOME6, (address, bridge),
                              definition.name))
    return tuple(members)


def _tag(rules: list[Rule], name: str) -> tuple[Rule, ...]:
    first, *rest = rules
    return (Rule(first.expr, name), *rest)


# --- the table skeleton and the transactions ---------------------------------------

def skeleton_commands() -> list[Json]:
    """Create the table, base chains and maps if missing (``add`` of an existing object
    is a no-op)."""
    cmds: list[Json] = [{"add": {"table": {"family": FAMILY, "name": TABLE}}}]
    cmds.append({"add": {"chain": {**TABLE_REF, "name": FORWARD_CHAIN, "type": "filter",
                                   "hook": "forward", "prio": PRIORITY_FILTER,
                                   "policy": "accept"}}})
    cmds.append({"add": {"chain": {**TABLE_REF, "name": POSTROUTING_CHAIN, "type": "nat",
                                   "hook": "postrouting", "prio": PRIORITY_SRCNAT,
                                   "policy": "accept"}}})
    cmds.append({"add": {"chain": {**TABLE_REF, "name": INPUT_CHAIN, "type": "filter",
                                   "hook": "input", "prio": PRIORITY_FILTER,
                                   "policy": "accept"}}})
    cmds.extend({"add": {"set": {**TABLE_REF, "name": name, "type": list(types)}}}
                for name, types in SETS.items())
    cmds.extend({"add": {"map": map_spec(name)}} for name in MAPS)
    return cmds


def map_spec(name: str) -> Json:
    key_type, interval = MAPS[name]
    spec: Json = {**TABLE_REF, "name": name, "type": key_type, "map": "verdict"}
    if interval:
        spec["flags"] = ["interval"]
    return spec


def dispatch_commands() -> list[Json]:
    """(Re)write the two base chains' dispatch rules. Flush + re-add inside the
    transaction is atomic, so this is idempotent and also repairs a tampered base
    chain, without touching any network's chain or conntrack."""
    cmds: list[Json] = []
    for chain, rules in base_chain_rules().items():
        cmds.append({"flush": {"chain": {**TABLE_REF, "name": chain}}})
        cmds.extend({"add": {"rule": rule.to_json(chain)}} for rule in rules)
    return cmds


def base_chain_rules() -> dict[str, tuple[Rule, ...]]:
    def vmap(key: Json, map_name: str) -> Rule:
        return Rule(({"vmap": {"key": key, "data": f"@{map_name}"}},))

    return {
        FORWARD_CHAIN: (vmap(_meta("oifname"), MAP_TO_BRIDGE),
                        vmap(_meta("iifname"), MAP_FROM_BRIDGE)),
        POSTROUTING_CHAIN: (vmap({"payload": {"protocol": "ip", "field": "saddr"}}, MAP_NAT4),
                            vmap({"payload": {"protocol": "ip6", "field": "saddr"}}, MAP_NAT6)),
        INPUT_CHAIN: (_guard_rule("ip", SET_LISTEN4, SET_HOME4),
                      _guard_rule("ip6", SET_LISTEN6, SET_HOME6)),
    }


def _guard_rule(family: str, listen: str, home: str) -> Rule:
    daddr = {"payload": {"protocol": family, "field": "daddr"}}
    to_dnsmasq = {"concat": [daddr, _meta("l4proto"), {"payload": {"protocol": "th",
                                                                  "field": "dport"}}]}
    return Rule((_match(to_dnsmasq, f"@{listen}"),
                 _match({"concat": [daddr, _meta("iifname")]}, f"@{home}", "!="),
                 _match(_meta("iifname"), "lo", "!="), _counter(), DROP))


ElementRef = tuple[str, Any]  # (map name, key exactly as `nft -j list` printed it)


def apply_commands(rules: NetworkRules, stale_elements: list[ElementRef] | None = None,
                   stale_chains: set[str] | None = None, *, skeleton: bool = True
                   ) -> list[Json]:
    """One transaction that makes the table hold exactly ``rules`` for this network.

    ``stale_elements`` and ``stale_chains`` are what the kernel holds for this network
    but ``rules`` no longer wants (another bridge name, a subnet that went away, nat
    turned off); they come from ``state``. ``skeleton=False`` leaves out the table,
    base chains, maps and dispatch rules, for when they are known to be there (rewriting
    the dispatch costs ~1.5 ms with 100 networks)."""
    table = skeleton_commands() if skeleton else []
    maps = table[-len(MAPS):] if skeleton else []
    cmds = table[:-len(MAPS)]  # the table and its base chains
    for chain, chain_rules in rules.chains:
        cmds.append({"add": {"chain": {**TABLE_REF, "name": chain}}})
        cmds.append({"flush": {"chain": {**TABLE_REF, "name": chain}}})
        cmds.extend({"add": {"rule": rule.to_json(chain)}} for rule in chain_rules)
    # Maps after the chains their elements jump to: nft 1.0.6 fails with "No such
    # file or directory" on an element of an interval map created in the same
    # transaction before the element's target chain.
    cmds.extend(maps)
    cmds.extend(remove_commands(stale_elements or [], stale_chains or set()))
    cmds.extend({"add": {"element": {**TABLE_REF, "name": element.map,
                                     "elem": [element.elem_json()]}}}
                for element in rules.elements)
    by_set: dict[str, list[Json]] = {}
    for member in rules.members:  # one command per set
        by_set.setdefault(member.set, []).append(member.elem_json())
    cmds.extend({"add": {"element": {**TABLE_REF, "name": name, "elem": elems}}}
                for name, elems in by_set.items())
    if skeleton:
        cmds.extend(dispatch_commands())
    return cmds


def guard_part(rules: NetworkRules) -> NetworkRules | None:
    """The input chain's set members of ``rules`` alone, as ``NetworkRules`` for
    ``apply_commands``: installed before dnsmasq starts, while the full transaction runs
    as dnsmasq starts (it adds the same members again, a no-op)."""
    if not rules.members:
        return None
    return NetworkRules(rules.name, (), (), rules.members)


def remove_commands(elements: list[ElementRef], chains: set[str]) -> list[Json]:
    """Delete a network's map elements and set members, then its chains (elements
    reference them)."""
    cmds: list[Json] = []
    for map_name, key in elements:
        cmds.append({"delete": {"element": {**TABLE_REF, "name": map_name, "elem": [key]}}})
    cmds.extend({"delete": {"chain": {**TABLE_REF, "name": chain}}} for chain in sorted(chains))
    return cmds


def document(cmds: list[Json]) -> Json:
    return {"nftables": cmds}
