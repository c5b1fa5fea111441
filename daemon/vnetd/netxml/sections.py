"""Parsers for the parts of a network that ``net-update`` also receives on their own.

Each returns model objects in canonical form (what ``format_network`` writes back),
and records the source line of each object in a ``Marks`` so that later
validation errors can point at the line.
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar, cast

from lxml import etree

from vnetd.model import (
    Bootp,
    Dhcp,
    DhcpHost,
    DhcpRange,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Family,
    IpConfig,
    Lease,
    LeaseUnit,
    Route,
)
from vnetd.netxml import _read as r

T = TypeVar("T")


class Marks:
    """Source lines of model objects, by identity, for the lifetime of one parse."""

    def __init__(self) -> None:
        self._lines: dict[int, int] = {}
        self._keep: list[object] = []

    def mark(self, obj: T, elem: etree._Element) -> T:
        line = elem.sourceline
        if isinstance(line, int) and line:
            self._lines[id(obj)] = line
            self._keep.append(obj)
        return obj

    def line_of(self, obj: object) -> int | None:
        return self._lines.get(id(obj))


def parse_lease(elem: etree._Element) -> Lease:
    r.check_attributes(elem, ("expiry", "unit"))
    r.children(elem, ())
    expiry = r.uint(elem, "expiry")
    if expiry is None:
        raise r.fail(elem, "missing required attribute 'expiry'")
    unit = r.choice(elem, "unit", ("seconds", "minutes", "hours"))
    if expiry == 0:
        # libvirt writes an infinite lease without a unit.
        return Lease(0, None)
    return Lease(expiry, cast(LeaseUnit, unit or "minutes"))


def _lease_child(elem: etree._Element) -> Lease | None:
    kids = r.children(elem, ("lease",))
    lease = r.only_one(kids, "lease")
    return None if lease is None else parse_lease(lease)


def parse_dhcp_range(elem: etree._Element, marks: Marks) -> DhcpRange:
    r.check_attributes(elem, ("start", "end"))
    start = r.req_ip(elem, "start")
    end = r.req_ip(elem, "end")
    if ipaddress.ip_address(start).version != ipaddress.ip_address(end).version:
        raise r.fail(elem, f"start {start} and end {end} are of different address families")
    return marks.mark(DhcpRange(start, end, _lease_child(elem)), elem)


def parse_dhcp_host(elem: etree._Element, marks: Marks) -> DhcpHost:
    r.check_attributes(elem, ("mac", "id", "name", "ip"))
    host = DhcpHost(
        mac=r.opt_mac(elem, "mac"),
        id=r.opt(elem, "id"),
        name=r.opt(elem, "name"),
        ip=r.opt_ip(elem, "ip"),
        lease=_lease_child(elem),
    )
    return marks.mark(host, elem)


def parse_dhcp(elem: etree._Element, marks: Marks) -> Dhcp | None:
    r.check_attributes(elem, ())
    kids = r.children(elem, ("range", "host", "bootp"))
    ranges = tuple(parse_dhcp_range(k, marks) for k in r.all_of(kids, "range"))
    hosts = tuple(parse_dhcp_host(k, marks) for k in r.all_of(kids, "host"))
    bootp_elem = r.only_one(kids, "bootp")
    bootp = None
    if bootp_elem is not None:
        r.check_attributes(bootp_elem, ("file", "server"))
        r.children(bootp_elem, ())
        bootp = marks.mark(
            Bootp(r.req(bootp_elem, "file"), r.opt(bootp_elem, "server")), bootp_elem
        )
        if not ranges and not hosts:
            raise r.fail(bootp_elem, "needs a <range> or <host> in the same <dhcp>")
    if not ranges and not hosts:
        # libvirt drops an empty <dhcp>; so do we, so that formatting round-trips.
        return None
    return marks.mark(Dhcp(ranges, hosts, bootp), elem)


def parse_ip(elem: etree._Element, marks: Marks) -> IpConfig:
    r.check_attributes(elem, ("address", "netmask", "prefix", "family", "localPtr"))
    kids = r.children(elem, ("tftp", "dhcp"))
    family = r.choice(elem, "family", ("ipv4", "ipv6"))
    version = {"ipv4": 4, "ipv6": 6, None: None}[family]
    address = r.req_ip(elem, "address", version)
    actual = ipaddress.ip_address(address).version
    netmask, prefix = _netmask_or_prefix(elem, actual, min_prefix=1)
    if netmask == "0.0.0.0":
        raise r.fail(elem, "netmask 0.0.0.0 is not valid for a network")
    tftp_root = None
    tftp = r.only_one(kids, "tftp")
    if tftp is not None:
        r.check_attributes(tftp, ("root",))
        r.children(tftp, ())
        tftp_root = r.req(tftp, "root")
    dhcp_elem = r.only_one(kids, "dhcp")
    dhcp = None if dhcp_elem is None else parse_dhcp(dhcp_elem, marks)
    ip = IpConfig(
        address=address,
        family=cast("Family | None", family),
        netmask=netmask,
        prefix=prefix,
        local_ptr=r.yes_no(elem, "localPtr"),
        tftp_root=tftp_root,
        dhcp=dhcp,
    )
    return marks.mark(ip, elem)


def _netmask_or_prefix(elem: etree._Element, version: int,
                       min_prefix: int) -> tuple[str | None, int | None]:
    """``netmask`` (IPv4 only, contiguous) or ``prefix``, never both."""
    netmask = r.opt(elem, "netmask")
    prefix = r.uint(elem, "prefix", min_prefix, 32 if version == 4 else 128)
    if netmask is not None and prefix is not None:
        raise r.fail(elem, "cannot have both 'prefix' and 'netmask'")
    if netmask is not None:
        if version == 6:
            raise r.fail(elem, "'netmask' is not allowed for IPv6, use 'prefix'")
        netmask = r.ip_text(elem, "netmask", netmask, 4)
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{netmask}")
        except ValueError:
            raise r.fail(elem, f"netmask {netmask} is not a contiguous netmask") from None
    return netmask, prefix


def parse_route(elem: etree._Element, marks: Marks) -> Route:
    r.check_attributes(elem, ("family", "address", "prefix", "netmask", "gateway", "metric"))
    r.children(elem, ())
    family = r.choice(elem, "family", ("ipv4", "ipv6"))
    version = {"ipv4": 4, "ipv6": 6, None: None}[family]
    address = r.req_ip(elem, "address", version)
    actual = ipaddress.ip_address(address).version
    gateway = r.req_ip(elem, "gateway", actual)
    netmask, prefix = _netmask_or_prefix(elem, actual, min_prefix=0)
    metric = r.uint(elem, "metric", 1)
    route = Route(
        address=address,
        gateway=gateway,
        family=cast("Family | None", family),
        prefix=prefix,
        netmask=netmask,
        metric=metric,
    )
    return marks.mark(route, elem)


def parse_forwarder(elem: etree._Element, marks: Marks) -> DnsForwarder:
    r.check_attributes(elem, ("addr", "domain"))
    r.children(elem, ())
    fwd = DnsForwarder(addr=r.opt_ip(elem, "addr"), domain=r.opt(elem, "domain"))
    if fwd.addr is None and fwd.domain is None:
        raise r.fail(elem, "needs at least one of 'addr' or 'domain'")
    return marks.mark(fwd, elem)


def parse_txt(elem: etree._Element, marks: Marks) -> DnsTxt:
    r.check_attributes(elem, ("name", "value"))
    r.children(elem, ())
    return marks.mark(DnsTxt(r.req(elem, "name"), r.req(elem, "value")), elem)


def dns_host_parts(elem: etree._Element) -> tuple[str | None, tuple[str, ...]]:
    """IP and hostnames of a ``<host>``, either possibly missing (update match keys)."""
    r.check_attributes(elem, ("ip",))
    kids = r.children(elem, ("hostname",))
    names = tuple(r.text_of(k) for k in kids)
    for kid, name in zip(kids, names, strict=True):
        if not name:
            raise r.fail(kid, "must not be empty")
    return r.opt_ip(elem, "ip"), names


def parse_dns_host(elem: etree._Element, marks: Marks) -> DnsHost:
    ip, names = dns_host_parts(elem)
    if ip is None:
        raise r.fail(elem, "missing required attribute 'ip'")
    if not names:
        raise r.fail(elem, "needs at least one <hostname>")
    return marks.mark(DnsHost(ip, names), elem)


def srv_parts(elem: etree._Element) -> dict[str, str | int | None]:
    """Attributes of an ``<srv>``, any of them possibly missing (update match keys)."""
    r.check_attributes(elem, ("service", "protocol", "domain", "target", "port", "priority",
                              "weight"))
    r.children(elem, ())

    def nonzero(name: str) -> int | None:
        # libvirt writes these only when non-zero; 0 and absent are the same.
        return r.uint(elem, name, 0, 65535) or None

    return {
        "service": r.opt(elem, "service"),
        "protocol": r.choice(elem, "protocol", ("tcp", "udp")),
        "domain": r.opt(elem, "domain"),
        "target": r.opt(elem, "target"),
        "port": nonzero("port"),
        "priority": nonzero("priority"),
        "weight": nonzero("weight"),
    }


def parse_srv(elem: etree._Element, marks: Marks) -> DnsSrv:
    parts = srv_parts(elem)
    if parts["service"] is None:
        raise r.fail(elem, "missing required attribute 'service'")
    if parts["protocol"] is None:
        raise r.fail(elem, "missing required attribute 'protocol'")
    srv = DnsSrv(
        service=str(parts["service"]),
        protocol=str(parts["protocol"]),
        domain=cast("str | None", parts["domain"]),
        target=cast("str | None", parts["target"]),
        port=cast("int | None", parts["port"]),
        priority=cast("int | None", parts["priority"]),
        weight=cast("int | None", parts["weight"]),
    )
    return marks.mark(srv, elem)
