"""Semantic checks of a ``NetworkDefinition`` (libvirt's parse/validate rules, plus ours).

``validate_definition`` raises ``InvalidArgument`` naming the element, the reason
and, when the definition came from text, the source line. Structural checks
(attribute syntax, unknown elements) happen while parsing; the rules here are the
ones that also apply to definitions built in code, e.g. after ``net-update``.

Choices beyond libvirt's rules, documented here because they are contract:

* name: non-empty, at most 200 bytes of UTF-8 (it becomes file names such as
  ``NAME.hostsfile``), no ``/``, no leading ``.``, no control characters;
* bridge name: a valid Linux interface name (1-15 bytes, no ``/``, ``:``, ``%``,
  whitespace or control characters, not ``.``/``..``); ``lo`` is refused;
* everything that lands in a dnsmasq configuration line (host names, domain, TXT
  name and value, SRV fields, DHCP ids, tftp root, bootp file and server,
  ``dnsmasq:option`` values) must not contain control characters; fields that
  dnsmasq splits on commas must not contain commas; and since dnsmasq's config
  reader interprets ``"``, ``\\`` and ``#``, those are refused too (except in raw
  ``dnsmasq:option`` lines, which the user owns).
"""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib
from collections.abc import Callable, Iterable

from lxml import etree

from vnetd.errors import InvalidArgument
from vnetd.model import (
    VIRTUAL_MODES,
    Dhcp,
    DhcpHost,
    Dns,
    ForwardMode,
    IpConfig,
    Lease,
    NetworkDefinition,
    RawElement,
)

#: Maps a model object to the source line it came from (or None).
Locator = Callable[[object], int | None]

NAME_MAX_BYTES = 200
MIN_LEASE_SECONDS = 120
MAX_LEASE_SECONDS = 2**32 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_NAME = re.compile(r"^[A-Za-z0-9.-]+$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SRV_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_ZONE = re.compile(r"^[A-Za-z0-9_-]+$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9:._-]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _no_locator(_: object) -> int | None:
    return None


class _Checker:
    def __init__(self, locate: Locator) -> None:
        self.locate = locate

    def fail(self, element: str, obj: object, reason: str) -> InvalidArgument:
        line = self.locate(obj) if obj is not None else None
        where = f" (line {line})" if line else ""
        return InvalidArgument(f"<{element}>{where}: {reason}")

    def conf_value(self, element: str, obj: object, what: str, value: str,
                   *, comma: bool = False) -> None:
        """A value written into a dnsmasq config line."""
        if _CONTROL.search(value):
            raise self.fail(element, obj, f"{what} must not contain control characters"
                            " or newlines")
        bad = [c for c in '"\\#' if c in value]
        if not comma and "," in value:
            bad.insert(0, ",")
        if bad:
            raise self.fail(element, obj, f"{what} {value!r} must not contain {bad[0]!r}"
                            " (it would break the dnsmasq configuration)")
        if not value:
            raise self.fail(element, obj, f"{what} must not be empty")

    def pattern(self, element: str, obj: object, what: str, value: str,
                regex: re.Pattern[str], expected: str) -> None:
        if len(value) > 253 or not regex.match(value):
            raise self.fail(element, obj, f"{what} {value!r} is not valid ({expected})")


def validate_definition(definition: NetworkDefinition, locate: Locator | None = None) -> None:
    """Raise ``InvalidArgument`` if the definition breaks a rule; return None otherwise."""
    try:
        _validate(definition, _Checker(locate or _no_locator))
    except (ValueError, TypeError) as exc:
        # Only reachable for definitions built in code with malformed values (parsed
        # ones are syntax-checked already); still a bad argument, never a crash.
        raise InvalidArgument(f"<network>: invalid value: {exc}") from None


def _validate(definition: NetworkDefinition, c: _Checker) -> None:
    d = definition
    _identity(c, d)
    _forward_and_bridge(c, d)
    _ips(c, d)
    _routes(c, d)
    if d.dns is not None:
        _dns(c, d.dns)
    if d.domain is not None:
        c.pattern("domain", d.domain, "name", d.domain.name, _DNS_NAME,
                  "letters, digits, '.' and '-'")
    for option in d.dnsmasq_options:
        if not option or _CONTROL.search(option):
            raise c.fail("dnsmasq:option", None, f"value {option!r} must be non-empty and"
                         " must not contain control characters or newlines")
    _portgroups(c, d.portgroups)


def _identity(c: _Checker, d: NetworkDefinition) -> None:
    name = d.name
    if not name:
        raise c.fail("name", d, "the network name must not be empty")
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        raise c.fail("name", d, f"the network name is longer than {NAME_MAX_BYTES} bytes")
    if "/" in name:
        raise c.fail("name", d, f"the network name {name!r} must not contain '/'")
    if name.startswith("."):
        raise c.fail("name", d, f"the network name {name!r} must not start with '.'")
    if _CONTROL.search(name):
        raise c.fail("name", d, "the network name must not contain control characters"
                     " or newlines")
    if d.uuid is not None and not _UUID.match(d.uuid):
        raise c.fail("uuid", d, f"{d.uuid!r} is not a UUID in canonical form")
    if d.title is not None and _CONTROL.search(d.title):
        raise c.fail("title", d, "the title must not contain newlines or control characters")
    if d.mac is not None:
        if not _MAC.match(d.mac):
            raise c.fail("mac", d, f"{d.mac!r} is not a lower-case MAC address")
        if int(d.mac[:2], 16) & 1:
            raise c.fail("mac", d, f"{d.mac} is a multicast address; the bridge MAC must be"
                         " unicast")
    if d.mtu is not None and not 68 <= d.mtu <= 65535:
        raise c.fail("mtu", d, f"size {d.mtu} is outside 68..65535")


def valid_interface_name(name: str) -> str | None:
    """Why ``name`` is not a usable Linux interface name, or None if it is."""
    raw = name.encode("utf-8", "surrogatepass")
    if not raw:
        return "it is empty"
    if len(raw) > 15:
        return "it is longer than 15 bytes"
    if name in (".", ".."):
        return "'.' and '..' are not interface names"
    if name == "lo":
        return "'lo' is the loopback device"
    for char in name:
        if char in "/:%" or char.isspace() or _CONTROL.match(char):
            return f"it contains {char!r}"
    return None


def _forward_and_bridge(c: _Checker, d: NetworkDefinition) -> None:
    fwd = d.forward
    mode = fwd.effective_mode if fwd else None
    virtual = mode is None or mode in VIRTUAL_MODES
    if fwd is not None:
        for dev in fwd.interfaces:
            why = valid_interface_name(dev)
            if why:
                raise c.fail("interface", fwd, f"dev {dev!r} is not valid: {why}")
        if len(set(fwd.interfaces)) != len(fwd.interfaces):
            raise c.fail("forward", fwd, "an interface can only be listed once")
        if fwd.dev is not None and fwd.interfaces and fwd.dev != fwd.interfaces[0]:
            raise c.fail("forward", fwd, f"forward dev {fwd.dev!r} must match the first"
                         f" <interface> dev {fwd.interfaces[0]!r}")
        if mode in VIRTUAL_MODES:
            assert mode is not None
            if not d.ips:
                raise c.fail("forward", fwd, f"mode {mode.value!r} needs at least one <ip>")
            if mode is ForwardMode.OPEN and (fwd.dev or fwd.interfaces):
                raise c.fail("forward", fwd, "mode 'open' does not allow 'dev' or <interface>")
            # libvirt's parser allows one forward interface here, yet its own net-update
            # adds more (test insert-forward-interface); the first one is the forward dev
            # and the only one used, so a longer list is kept rather than refused.
            if fwd.hardware:
                raise c.fail("forward", fwd, f"mode {mode.value!r} does not allow <pf>,"
                             " <address> or <driver>")
        if fwd.nat is not None:
            _nat(c, d)
    bridge = d.bridge
    if bridge is not None:
        if bridge.name is not None:
            why = valid_interface_name(bridge.name)
            if why:
                raise c.fail("bridge", bridge, f"name {bridge.name!r} is not valid: {why}")
        if bridge.zone is not None and not _ZONE.match(bridge.zone):
            raise c.fail("bridge", bridge, f"zone {bridge.zone!r} is not valid (letters,"
                         " digits, '_' and '-')")
        if bridge.delay is not None and bridge.delay > 2**31:
            raise c.fail("bridge", bridge, f"delay {bridge.delay} is too large")
        if not virtual:
            assert mode is not None
            if bridge.stp is not None or bridge.delay is not None or bridge.zone is not None:
                raise c.fail("bridge", bridge, "stp, delay and zone are only allowed with"
                             f" modes nat, route, open and isolated, not {mode.value!r}")
            if mode is not ForwardMode.BRIDGE and (bridge.name or bridge.mac_table_manager):
                raise c.fail("bridge", bridge, f"not allowed with forward mode {mode.value!r}")
            if bridge.name and fwd is not None and (fwd.interfaces or fwd.hardware):
                raise c.fail("bridge", bridge, f"forward mode {mode.value!r} can name a bridge"
                             " or a forward dev, but not both")


def _nat(c: _Checker, d: NetworkDefinition) -> None:
    assert d.forward is not None and d.forward.nat is not None
    nat = d.forward.nat
    if d.forward.effective_mode is not ForwardMode.NAT:
        raise c.fail("nat", nat, "only allowed with forward mode 'nat'")
    if (nat.address_start is None) != (nat.address_end is None):
        raise c.fail("address", nat, "<nat><address> needs both 'start' and 'end'")
    if nat.address_start is not None and nat.address_end is not None:
        start = ipaddress.ip_address(nat.address_start)
        end = ipaddress.ip_address(nat.address_end)
        if start.version != 4 or end.version != 4:
            raise c.fail("address", nat, "NAT addresses must be IPv4")
        if start > end:
            raise c.fail("address", nat, f"start {start} is after end {end}")
    if nat.port_start is not None:
        end_port = nat.port_end if nat.port_end is not None else nat.port_start
        if not 1 <= nat.port_start <= end_port <= 65535:
            raise c.fail("port", nat, f"port range {nat.port_start}-{nat.port_end} is not"
                         " valid (1..65535, start <= end)")
    elif nat.port_end is not None:
        raise c.fail("port", nat, "missing 'start'")


def _lease(c: _Checker, element: str, obj: object, lease: Lease | None) -> None:
    if lease is None:
        return
    seconds = lease.seconds
    if seconds != 0 and seconds < MIN_LEASE_SECONDS:
        raise c.fail(element, obj, f"lease time {lease.expiry} {lease.unit or 'minutes'} is"
                     " shorter than 2 minutes (use 0 for an infinite lease)")
    if seconds > MAX_LEASE_SECONDS:
        raise c.fail(element, obj, "lease time is too long")


def _ips(c: _Checker, d: NetworkDefinition) -> None:
    dhcp_seen: dict[int, IpConfig] = {}
    tftp_seen = False
    for ip in d.ips:
        if ip.address is None:
            raise c.fail("ip", ip, "missing 'address'")
        try:
            address = ipaddress.ip_address(ip.address)
        except ValueError:
            raise c.fail("ip", ip, f"{ip.address!r} is not an IP address") from None
        if ip.family is not None and address.version != ip.version:
            raise c.fail("ip", ip, f"address {address} does not match family {ip.family!r}")
        if ip.prefix is not None and not 1 <= ip.prefix <= (32 if address.version == 4
                                                           else 128):
            raise c.fail("ip", ip, f"prefix {ip.prefix} is out of range")
        if ip.netmask is not None and ip.prefix is not None:
            raise c.fail("ip", ip, "cannot have both 'prefix' and 'netmask'")
        if ip.netmask is not None:
            if address.version == 6:
                raise c.fail("ip", ip, "'netmask' is not allowed for IPv6")
            try:
                ipaddress.IPv4Network(f"0.0.0.0/{ip.netmask}")
            except ValueError:
                raise c.fail("ip", ip, f"netmask {ip.netmask} is not valid and"
                             " contiguous") from None
        if ip.tftp_root is not None:
            if address.version != 4:
                raise c.fail("tftp", ip, "tftp is only supported on IPv4 addresses")
            if tftp_seen:
                raise c.fail("tftp", ip, "only one <ip> of a network may have <tftp>")
            tftp_seen = True
            c.conf_value("tftp", ip, "root", ip.tftp_root)
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            if address.version in dhcp_seen:
                raise c.fail("dhcp", ip.dhcp, f"only one IPv{address.version} <ip> of a network"
                             " may have DHCP")
            dhcp_seen[address.version] = ip
            _dhcp(c, ip, ip.dhcp)


def _dhcp(c: _Checker, ip: IpConfig, dhcp: Dhcp) -> None:
    net = ip.network
    seen_ranges: set[tuple[str, str]] = set()
    for rng in dhcp.ranges:
        start, end = ipaddress.ip_address(rng.start), ipaddress.ip_address(rng.end)
        for value in (start, end):
            if value not in net:
                raise c.fail("range", rng, f"address {value} is outside the subnet {net}"
                             f" of <ip address='{ip.address}'>")
        if start.version != end.version:
            raise c.fail("range", rng, "start and end are of different address families")
        if int(start) > int(end):
            raise c.fail("range", rng, f"start {start} is after end {end}")
        # libvirt's virSocketAddrGetRange: dnsmasq would hand out these two to a guest.
        if start.version == 4 and start == net.network_address:
            raise c.fail("range", rng, f"start {start} is the network address of {net}")
        if end.version == 4 and end == net.broadcast_address:
            raise c.fail("range", rng, f"end {end} is the broadcast address of {net}")
        if (rng.start, rng.end) in seen_ranges:
            raise c.fail("range", rng, f"range {start}-{end} is listed twice")
        seen_ranges.add((rng.start, rng.end))
        _lease(c, "range", rng, rng.lease)
    keys: dict[str, set[str]] = {"mac": set(), "id": set(), "name": set(), "ip": set()}
    for host in dhcp.hosts:
        check_dhcp_host(c, ip, host)
        for key in keys:
            value = getattr(host, key)
            if value is None:
                continue
            folded = value.lower() if key in ("mac", "name") else value
            if folded in keys[key]:
                raise c.fail("host", host, f"{key} {value!r} is used by more than one <host>")
            keys[key].add(folded)
    if dhcp.bootp is not None:
        if ip.version != 4:
            raise c.fail("bootp", dhcp.bootp, "bootp is only supported on IPv4")
        c.conf_value("bootp", dhcp.bootp, "file", dhcp.bootp.file)
        if dhcp.bootp.server is not None:
            c.pattern("bootp", dhcp.bootp, "server", dhcp.bootp.server, _DNS_NAME,
                      "an IPv4 address or a DNS name")


def check_dhcp_host(c: _Checker, ip: IpConfig, host: DhcpHost) -> None:
    if ip.version == 4 and host.mac is None and host.id is None:
        raise c.fail("host", host, "a static host of an IPv4 network needs 'mac' or 'id'")
    if ip.version == 6:
        if host.mac is not None:
            raise c.fail("host", host, "'mac' is not allowed in an IPv6 static host; use 'id'")
        if host.id is None and host.name is None:
            raise c.fail("host", host, "a static host of an IPv6 network needs 'id' or 'name'")
    if host.ip is None:
        raise c.fail("host", host, "missing 'ip'")
    addr = ipaddress.ip_address(host.ip)
    if addr not in ip.network:
        raise c.fail("host", host, f"ip {addr} is outside the subnet {ip.network}")
    if host.mac is not None:
        if not _MAC.match(host.mac):
            raise c.fail("host", host, f"mac {host.mac!r} is not a lower-case MAC address")
        if int(host.mac[:2], 16) & 1:
            raise c.fail("host", host, f"mac {host.mac} is a multicast address")
    if host.id is not None:
        c.pattern("host", host, "id", host.id, _CLIENT_ID, "hex digits and ':'")
    if host.name is not None:
        c.pattern("host", host, "name", host.name, _HOST_NAME,
                  "letters, digits, '_', '.' and '-'")
    _lease(c, "host", host, host.lease)


def _routes(c: _Checker, d: NetworkDefinition) -> None:
    for route in d.routes:
        address = ipaddress.ip_address(route.address)
        gateway = ipaddress.ip_address(route.gateway)
        if route.family is not None and address.version != route.version:
            raise c.fail("route", route, f"address {address} does not match family"
                         f" {route.family!r}")
        if gateway.version != address.version:
            raise c.fail("route", route, "gateway and address are of different families")
        try:
            ipaddress.ip_network(f"{route.address}/{route.network.prefixlen}", strict=True)
        except ValueError:
            raise c.fail("route", route, f"address {address} has host bits set for its"
                         " prefix") from None
        if not any(ip.version == gateway.version and ip.address is not None
                   and gateway in ip.network for ip in d.ips):
            raise c.fail("route", route, f"gateway {gateway} is not in the subnet of any"
                         " <ip> of this network")


def _dns(c: _Checker, dns: Dns) -> None:
    if dns.enable is False and (dns.forwarders or dns.txts or dns.hosts or dns.srvs):
        raise c.fail("dns", dns, "enable='no' does not allow any child element")
    for fwd in dns.forwarders:
        if fwd.addr is None and fwd.domain is None:
            raise c.fail("forwarder", fwd, "needs at least one of 'addr' or 'domain'")
        if fwd.domain is not None:
            c.pattern("forwarder", fwd, "domain", fwd.domain, _DNS_NAME,
                      "letters, digits, '.' and '-'")
    names: set[str] = set()
    for txt in dns.txts:
        c.conf_value("txt", txt, "name", txt.name)
        if " " in txt.name:
            raise c.fail("txt", txt, f"name {txt.name!r} must not contain spaces")
        c.conf_value("txt", txt, "value", txt.value)
        if txt.name in names:
            raise c.fail("txt", txt, f"a TXT record named {txt.name!r} already exists")
        names.add(txt.name)
    for host in dns.hosts:
        ipaddress.ip_address(host.ip)
        if not host.hostnames:
            raise c.fail("host", host, "needs at least one <hostname>")
        for name in host.hostnames:
            c.pattern("hostname", host, "hostname", name, _HOST_NAME,
                      "letters, digits, '_', '.' and '-'")
    for srv in dns.srvs:
        c.pattern("srv", srv, "service", srv.service, _SRV_LABEL, "letters, digits and '-'")
        if srv.protocol not in ("tcp", "udp"):
            raise c.fail("srv", srv, f"protocol must be 'tcp' or 'udp', not {srv.protocol!r}")
        if srv.domain is not None:
            c.pattern("srv", srv, "domain", srv.domain, _DNS_NAME, "letters, digits, '.', '-'")
        if srv.target is not None:
            c.pattern("srv", srv, "target", srv.target, _DNS_NAME, "letters, digits, '.', '-'")
        for field_name in ("port", "priority", "weight"):
            value = getattr(srv, field_name)
            if value is not None and not 0 <= value <= 65535:
                raise c.fail("srv", srv, f"{field_name} {value} is outside 0..65535")


def raw_attributes(raw: RawElement) -> dict[str, str]:
    """Attributes of the root of a stored fragment (for portgroup names and the like)."""
    from vnetd.xmlsafe import parse_xml

    root = parse_xml(raw.xml, what="stored fragment")
    return {str(k): str(v) for k, v in root.attrib.items()}


def _portgroups(c: _Checker, groups: Iterable[RawElement]) -> None:
    names: set[str] = set()
    default = False
    for group in groups:
        attrs = raw_attributes(group)
        name = attrs.get("name")
        if not name:
            raise c.fail("portgroup", group, "missing 'name'")
        if name in names:
            raise c.fail("portgroup", group, f"portgroup {name!r} is defined more than once")
        names.add(name)
        if attrs.get("default") == "yes":
            if default:
                raise c.fail("portgroup", group, "only one portgroup may be the default")
            default = True


def canonical_uuid(text: str) -> str | None:
    """libvirt's UUID syntax (hex digits, optional dashes) in canonical form, or None."""
    digits = text.strip().replace("-", "")
    if len(digits) != 32 or not re.fullmatch(r"[0-9A-Fa-f]{32}", digits):
        return None
    return str(uuidlib.UUID(hex=digits))


def element_tag(raw: RawElement) -> str:
    from vnetd.xmlsafe import parse_xml

    return etree.QName(parse_xml(raw.xml, what="stored fragment")).localname
