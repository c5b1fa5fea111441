"""Pure checks run before a bridge is touched: name validity, adoption, subnet overlap.

The applier (``vnetd.bridge.netlink``) reads links, addresses and routes from the kernel
and hands them here as plain values, so every rule below is testable without root.

Rules (libvirt's ``networkCheckRouteCollision`` and ``networkBridgeNameValidate``, made a
little stricter):

* An existing interface with the bridge's name is *ours* (adopted, then completed by
  ``ensure``) when it is a bridge, its MAC is the definition's MAC (when the definition
  has one), and every address on it (IPv6 link-local aside) is one of the definition's.
  A subset is accepted on purpose: a start that crashed half way leaves a bridge with
  some addresses missing, and the next start must be able to finish it. Anything else
  with that name is a conflict naming the interface.
* A subnet of the definition conflicts with a unicast route of the main table on any
  other interface when the two prefixes overlap (one contains the other). libvirt only
  refuses an identical prefix; an overlapping one gives the same broken routing, so
  vnetd refuses it too. Default routes (prefix length 0) are ignored, as everything
  overlaps them. Other vnetd networks show up as routes on their bridges.
* A static ``<route>`` conflicts with a main-table route of the same destination and
  metric on another interface: the kernel would refuse to add it (EEXIST).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import Conflict, InvalidArgument
from ..model import IPInterface, IPNetwork, NetworkDefinition, Route

IFNAMSIZ = 16
MAIN_TABLE = 254
RTN_UNICAST = 1
DEFAULT_ROUTE_METRIC = 1
"""libvirt's ``virNetDevIPRouteGetMetric``: a ``<route>`` without a metric gets 1."""


@dataclass(frozen=True)
class LinkFact:
    """An interface as the kernel reports it, for the adoption check."""

    index: int
    name: str
    kind: str | None  # IFLA_INFO_KIND; None for devices without one (lo, physical NICs)
    mac: str | None


@dataclass(frozen=True)
class AddressFact:
    """An address on interface ``index``."""

    index: int
    interface: IPInterface


@dataclass(frozen=True)
class RouteFact:
    """A route of the kernel's routing tables, for the collision checks."""

    network: IPNetwork
    oifs: tuple[int, ...]  # several for a multipath route, none for blackhole and the like
    gateway: str | None = None
    metric: int = 0
    table: int = MAIN_TABLE
    type: int = RTN_UNICAST


def validate_bridge_name(name: str | None) -> str:
    """The kernel's ``dev_valid_name`` rules, with the element named in the error."""
    if not name:
        raise InvalidArgument("<bridge name>: the network has no bridge name")
    if len(name.encode()) >= IFNAMSIZ:
        raise InvalidArgument(
            f"<bridge name='{name}'>: interface names are at most {IFNAMSIZ - 1} bytes")
    if name in {".", ".."}:
        raise InvalidArgument(f"<bridge name='{name}'>: not a valid interface name")
    bad = [c for c in name if c in "/:" or c.isspace()]
    if bad:
        raise InvalidArgument(
            f"<bridge name='{name}'>: interface names may not contain {bad[0]!r}")
    return name


def wanted_addresses(definition: NetworkDefinition) -> tuple[IPInterface, ...]:
    """The bridge addresses of the definition, in order, without duplicates."""
    out: list[IPInterface] = []
    for ip in definition.ips:
        if ip.address is None:
            continue
        try:
            iface = ip.interface
        except ValueError as exc:
            raise InvalidArgument(f"<ip address='{ip.address}'>: {exc}") from exc
        if iface not in out:
            out.append(iface)
    return tuple(out)


def link_local(definition: NetworkDefinition) -> IPInterface | None:
    """The bridge's IPv6 link-local address, which vnetd adds itself for a network with
    an IPv6 address and a MAC: the EUI-64 of the MAC (RFC 4291 appendix A), the address
    the kernel would make, but present before dnsmasq starts rather than once a port
    brings carrier (see ``vnetd.listeners.guarded``). None: the kernel's own, if any."""
    if definition.mac is None or not definition.ips_of(6):
        return None
    octets = bytes.fromhex(definition.mac.replace(":", ""))
    eui64 = bytes((octets[0] ^ 0x02, *octets[1:3], 0xFF, 0xFE, *octets[3:]))
    return ipaddress.IPv6Interface((b"\xfe\x80" + bytes(6) + eui64, 64))


def bridge_addresses(definition: NetworkDefinition) -> tuple[IPInterface, ...]:
    """Every address ``ensure`` puts on the bridge: the definition's, then the
    link-local one vnetd adds (not a subnet of the network: never a route conflict)."""
    wanted = wanted_addresses(definition)
    own = link_local(definition)
    return wanted if own is None else (*wanted, own)


def route_metric(route: Route) -> int:
    return route.metric if route.metric else DEFAULT_ROUTE_METRIC


def is_link_local(iface: IPInterface) -> bool:
    return iface.version == 6 and iface.ip.is_link_local


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    """One prefix contains the other: their first min(prefix lengths) bits agree.
    Compared as integers: ``subnet_of`` both ways cost ~10 us a pair, and every start
    compares its subnets with every route of the host (with 100 networks running,
    1.2 ms of the check)."""
    if a.version != b.version:
        return False
    shift = a.max_prefixlen - min(a.prefixlen, b.prefixlen)
    return int(a.network_address) >> shift == int(b.network_address) >> shift


def check_existing_link(definition: NetworkDefinition, link: LinkFact | None,
                        addresses: Iterable[AddressFact]) -> bool:
    """True when ``link`` (the interface carrying the bridge's name) is a bridge of this
    network that may be adopted, False when there is none; ``Conflict`` otherwise."""
    if link is None:
        return False
    name = link.name
    if link.kind != "bridge":
        kind = link.kind or "device"
        raise Conflict(f"bridge name '{name}' is already in use by interface {name} "
                       f"(a {kind}, not a bridge)")
    if definition.mac and (link.mac or "").lower() != definition.mac.lower():
        raise Conflict(f"bridge name '{name}' is already in use by interface {name}: "
                       f"its MAC {link.mac} is not this network's {definition.mac}")
    wanted = set(wanted_addresses(definition))
    foreign = sorted(str(a.interface) for a in addresses
                     if a.index == link.index and a.interface not in wanted
                     and not is_link_local(a.interface))
    if foreign:
        raise Conflict(f"bridge name '{name}' is already in use by interface {name}: "
                       f"it carries {', '.join(foreign)}, which this network does not define")
    return True


@dataclass(frozen=True)
class RouteCollision:
    """A subnet or static route of a definition that a host route already covers."""

    network_name: str
    route: RouteFact
    oifs: tuple[int, ...]  # the route's interfaces other than this network's bridge
    subnet: IPNetwork | None = None  # set for a subnet overlap
    static: tuple[IPNetwork, int] | None = None  # (destination, metric) for a <route>

    def message(self, names: Mapping[int, str]) -> str:
        where = ", ".join(names.get(oif, f"#{oif}") for oif in self.oifs) or "(no device)"
        if self.static is not None:
            network, metric = self.static
            return (f"<route address='{network.network_address}' prefix='{network.prefixlen}'>"
                    f" of network '{self.network_name}': a route to {network} with metric "
                    f"{metric} already exists on interface {where}")
        return (f"Network is already in use by interface {where}: subnet {self.subnet} "
                f"of network '{self.network_name}' overlaps route {self.route.network} "
                f"on {where}")


def find_route_collision(definition: NetworkDefinition, routes: Iterable[RouteFact],
                         own_index: int | None) -> RouteCollision | None:
    """The first collision of a subnet or static route of the definition with a host
    route on another interface (routes on ``own_index``, this network's bridge, are
    ignored), or None."""
    subnets = [iface.network for iface in wanted_addresses(definition)]
    statics = [(r.network, route_metric(r)) for r in definition.routes]
    for fact in routes:
        if fact.table != MAIN_TABLE or fact.type != RTN_UNICAST:
            continue
        others = tuple(oif for oif in fact.oifs if oif != own_index)
        if fact.oifs and not others:
            continue
        if fact.network.prefixlen > 0:
            for subnet in subnets:
                if overlaps(subnet, fact.network):
                    return RouteCollision(definition.name, fact, others, subnet=subnet)
        for network, metric in statics:
            if network == fact.network and metric == fact.metric:
                return RouteCollision(definition.name, fact, others, static=(network, metric))
    return None


def check_route_collisions(definition: NetworkDefinition, routes: Iterable[RouteFact],
                           names: Mapping[int, str], own_index: int | None) -> None:
    """``find_route_collision`` raising ``Conflict`` (interfaces named from ``names``)."""
    collision = find_route_collision(definition, routes, own_index)
    if collision is not None:
        raise Conflict(collision.message(names))


def parse_network(dst: str | None, dst_len: int, family_v6: bool) -> IPNetwork:
    """A route's destination as the kernel reports it (no dst attribute: the default)."""
    if dst is None:
        dst = "::" if family_v6 else "0.0.0.0"
    return ipaddress.ip_network(f"{dst}/{dst_len}", strict=False)
