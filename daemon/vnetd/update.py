"""``net-update``: edit one section of a definition (pure), and what the edit needs live.

Semantics follow libvirt's ``virNetworkDefUpdateSection`` (src/conf/network_conf.c),
including the newer ``modify`` of dns-host (matched by IP), dns-txt (by name) and
dns-srv (by the given service/protocol/domain/target). Sections libvirt refuses
(bridge, domain, ip, forward, forward-pf) raise ``NotSupported``; bad snippets,
missing or duplicate entries raise ``InvalidArgument``. The result is validated
as a whole, so it is always a definition ``parse_network`` would accept.

``parent_index`` picks the ``<ip>`` for the dhcp sections; ``-1`` means "most
appropriate": the ``<ip>`` that has DHCP and whose subnet holds the snippet's
address, else the first with DHCP of the snippet's family, else the first ``<ip>``
of that family (IPv4 when the snippet has no address) — libvirt's rule, made
family-aware.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from dataclasses import dataclass
from typing import TypeVar

from lxml import etree

from vnetd.errors import InvalidArgument, NotSupported
from vnetd.model import (
    Dhcp,
    DhcpHost,
    Dns,
    Forward,
    ForwardMode,
    IpConfig,
    NetworkDefinition,
    RawElement,
)
from vnetd.netxml import _read as r
from vnetd.netxml import raw
from vnetd.netxml import sections as s
from vnetd.validate import raw_attributes, validate_definition
from vnetd.xmlsafe import parse_xml

T = TypeVar("T")


class Command(enum.IntEnum):
    NONE = 0
    MODIFY = 1
    DELETE = 2
    ADD_LAST = 3
    ADD_FIRST = 4


class Section(enum.IntEnum):
    NONE = 0
    BRIDGE = 1
    DOMAIN = 2
    IP = 3
    IP_DHCP_HOST = 4
    IP_DHCP_RANGE = 5
    FORWARD = 6
    FORWARD_INTERFACE = 7
    FORWARD_PF = 8
    PORTGROUP = 9
    DNS_HOST = 10
    DNS_TXT = 11
    DNS_SRV = 12


_COMMAND_NAMES = {"none": 0, "modify": 1, "delete": 2, "add-last": 3, "add": 3, "add-first": 4}
_SECTION_ELEMENT = {
    Section.IP_DHCP_HOST: "host",
    Section.IP_DHCP_RANGE: "range",
    Section.FORWARD_INTERFACE: "interface",
    Section.PORTGROUP: "portgroup",
    Section.DNS_HOST: "host",
    Section.DNS_TXT: "txt",
    Section.DNS_SRV: "srv",
}
_UNSUPPORTED_SECTIONS = {Section.BRIDGE, Section.DOMAIN, Section.IP, Section.FORWARD,
                         Section.FORWARD_PF}


def _section_name(section: Section) -> str:
    return section.name.lower().replace("_", "-")


def parse_command(text: str) -> Command:
    """``modify``, ``delete``, ``add-first``, ``add-last``/``add`` (or the number)."""
    key = text.strip().lower().replace("_", "-")
    if key.isdigit() and int(key) in Command._value2member_map_:
        return Command(int(key))
    if key not in _COMMAND_NAMES:
        raise InvalidArgument(f"unknown net-update command {text!r} (expected one of"
                              " add-first, add-last, add, delete, modify)")
    return Command(_COMMAND_NAMES[key])


def parse_section(text: str) -> Section:
    """``ip-dhcp-host``, ``dns-txt``, ... (or the number)."""
    key = text.strip().lower().replace("_", "-")
    if key.isdigit() and int(key) in Section._value2member_map_:
        return Section(int(key))
    for section in Section:
        if _section_name(section) == key:
            return section
    names = ", ".join(_section_name(x) for x in Section if x is not Section.NONE)
    raise InvalidArgument(f"unknown net-update section {text!r} (expected one of {names})")


@dataclass(frozen=True)
class UpdateEffect:
    """What a running network needs after an update (libvirt's ``networkUpdate``)."""

    firewall: bool = False  # remove and re-add the network's rules
    dnsmasq_restart: bool = False  # conf file changed: kill and restart dnsmasq
    hosts_only: bool = False  # rewrite hostsfile/addnhosts and SIGHUP dnsmasq

    @property
    def nothing(self) -> bool:
        return not (self.firewall or self.dnsmasq_restart or self.hosts_only)


def update_effect(before: NetworkDefinition, after: NetworkDefinition,
                  section: int) -> UpdateEffect:
    sec = Section(section)
    firewall_modes = {"isolated", "nat", "route"}
    firewall = sec in (Section.FORWARD, Section.FORWARD_INTERFACE, Section.IP,
                       Section.IP_DHCP_RANGE, Section.IP_DHCP_HOST) and (
        before.mode in firewall_modes or after.mode in firewall_modes)
    restart = sec in (Section.BRIDGE, Section.DOMAIN, Section.IP, Section.IP_DHCP_RANGE,
                      Section.DNS_TXT, Section.DNS_SRV)
    hosts = False
    if sec is Section.IP_DHCP_HOST:
        # Switching DHCP on or off for a family changes the conf file, not just hosts.
        toggled = any((before.dhcp_ip(v) is None) != (after.dhcp_ip(v) is None) for v in (4, 6))
        restart = restart or toggled
        hosts = not toggled
    if sec is Section.DNS_HOST:
        hosts = True
    if before == after:
        return UpdateEffect()
    return UpdateEffect(firewall=firewall, dnsmasq_restart=restart, hosts_only=hosts)


def apply_update(definition: NetworkDefinition, command: int, section: int, parent_index: int,
                 xml: str) -> NetworkDefinition:
    """Return the definition with one section edited; raise without changing anything."""
    try:
        cmd = Command(command)
    except ValueError:
        raise InvalidArgument(f"unknown net-update command {command}") from None
    try:
        sec = Section(section)
    except ValueError:
        raise InvalidArgument(f"unknown net-update section {section}") from None
    if cmd is Command.NONE:
        raise InvalidArgument("net-update needs a command (add-first, add-last, delete, modify)")
    if sec is Section.NONE:
        raise InvalidArgument("net-update needs a section")
    if sec in _UNSUPPORTED_SECTIONS:
        raise NotSupported(f"net-update of section {_section_name(sec)!r} is not supported"
                           " (libvirt does not support it either); redefine the network")
    elem = parse_xml(xml, what="net-update XML")
    expected = _SECTION_ELEMENT[sec]
    if etree.QName(elem).namespace is not None or r.tag(elem) != expected:
        raise InvalidArgument(f"can't update {_section_name(sec)!r} section of network"
                              f" {definition.name!r}: expected <{expected}>, got <{r.tag(elem)}>")
    handler = _HANDLERS[sec]
    result = handler(definition, cmd, parent_index, elem)
    validate_definition(result)
    return result


def plan_update(definition: NetworkDefinition, command: int, section: int, parent_index: int,
                xml: str) -> tuple[NetworkDefinition, UpdateEffect]:
    after = apply_update(definition, command, section, parent_index, xml)
    return after, update_effect(definition, after, section)


def _insert(items: tuple[T, ...], item: T, cmd: Command) -> tuple[T, ...]:
    return (item, *items) if cmd is Command.ADD_FIRST else (*items, item)


def _pick_ip(d: NetworkDefinition, parent_index: int, address: str | None) -> int:
    if parent_index >= 0:
        if parent_index >= len(d.ips):
            raise InvalidArgument(f"no <ip> element found at index {parent_index} in network"
                                  f" {d.name!r}")
        return parent_index
    version = ipaddress.ip_address(address).version if address else None
    with_dhcp = [i for i, ip in enumerate(d.ips) if ip.dhcp is not None]
    if address is not None:
        addr = ipaddress.ip_address(address)
        for i in with_dhcp:
            if d.ips[i].version == addr.version and addr in d.ips[i].network:
                return i
    for i in with_dhcp:
        if version is None or d.ips[i].version == version:
            return i
    for wanted in ([version] if version else [4, 6]):
        for i, ip in enumerate(d.ips):
            if ip.version == wanted:
                return i
    raise InvalidArgument(f"no suitable <ip> element found in network {d.name!r}")


def _replace_ip(d: NetworkDefinition, index: int, ip: IpConfig) -> NetworkDefinition:
    ips = list(d.ips)
    ips[index] = ip
    return dataclasses.replace(d, ips=tuple(ips))


def _with_dhcp(ip: IpConfig, dhcp: Dhcp) -> IpConfig:
    empty = not dhcp.ranges and not dhcp.hosts
    return dataclasses.replace(ip, dhcp=None if empty else dhcp)


def _dhcp_host(d: NetworkDefinition, cmd: Command, parent_index: int,
               elem: etree._Element) -> NetworkDefinition:
    host = s.parse_dhcp_host(elem, s.Marks())
    if host.mac is None and host.id is None and host.name is None:
        raise r.fail(elem, "needs 'mac', 'id' or 'name'")
    index = _pick_ip(d, parent_index, host.ip)
    ip = d.ips[index]
    dhcp = ip.dhcp or Dhcp()
    hosts = dhcp.hosts
    if cmd is Command.DELETE:
        # Every attribute given must match (libvirt: an absent MAC on either side passes).
        def matches(h: DhcpHost) -> bool:
            return ((host.mac is None or h.mac is None or host.mac == h.mac)
                    and (host.id is None or host.id == h.id)
                    and (host.name is None or host.name == h.name)
                    and (host.ip is None or host.ip == h.ip))

        found = [i for i, h in enumerate(hosts) if matches(h)]
        if not found:
            raise InvalidArgument(f"couldn't locate a matching dhcp <host> in network {d.name!r}")
        hosts = hosts[: found[0]] + hosts[found[0] + 1:]
        return _replace_ip(d, index, _with_dhcp(ip, dataclasses.replace(dhcp, hosts=hosts)))
    if host.ip is None:
        raise r.fail(elem, "missing 'ip' in the static host definition")
    if ip.version == 4 and host.mac is None and host.id is None:
        raise r.fail(elem, "a static host of an IPv4 network needs 'mac' or 'id'")
    if cmd is Command.MODIFY:
        found = [i for i, h in enumerate(hosts)
                 if (host.mac is not None and host.mac == h.mac)
                 or (host.id is not None and host.id == h.id)
                 or (host.name is not None and host.name == h.name)]
        if not found:
            raise InvalidArgument(f"couldn't locate an existing dhcp <host> matching"
                                  f" {_describe(host)} in network {d.name!r}")
        new_hosts = list(hosts)
        new_hosts[found[0]] = host
        return _replace_ip(d, index, _with_dhcp(ip, dataclasses.replace(
            dhcp, hosts=tuple(new_hosts))))
    for h in hosts:
        if ((host.mac is not None and host.mac == h.mac) or (host.id is not None and
            host.id == h.id) or (host.name is not None and host.name == h.name)
                or host.ip == h.ip):
            raise InvalidArgument(f"there is an existing dhcp <host> in network {d.name!r}"
                                  f" that matches {_describe(host)}")
    new = dataclasses.replace(dhcp, hosts=_insert(hosts, host, cmd))
    return _replace_ip(d, index, _with_dhcp(ip, new))


def _describe(host: DhcpHost) -> str:
    attrs = [f"{k}='{v}'" for k, v in (("mac", host.mac), ("id", host.id),
                                        ("name", host.name), ("ip", host.ip)) if v]
    return "<host " + " ".join(attrs) + "/>"


def _dhcp_range(d: NetworkDefinition, cmd: Command, parent_index: int,
                elem: etree._Element) -> NetworkDefinition:
    if cmd is Command.MODIFY:
        raise InvalidArgument("dhcp ranges cannot be modified, only added or deleted")
    rng = s.parse_dhcp_range(elem, s.Marks())
    index = _pick_ip(d, parent_index, rng.start)
    ip = d.ips[index]
    for value in (rng.start, rng.end):
        addr = ipaddress.ip_address(value)
        if addr.version != ip.version or addr not in ip.network:
            raise r.fail(elem, f"range {rng.start} - {rng.end} is not entirely within"
                         f" {ip.network} of network {d.name!r}")
    dhcp = ip.dhcp or Dhcp()
    found = [i for i, x in enumerate(dhcp.ranges) if (x.start, x.end) == (rng.start, rng.end)]
    if cmd is Command.DELETE:
        if not found:
            raise InvalidArgument(f"couldn't locate a matching dhcp <range start='{rng.start}'"
                                  f" end='{rng.end}'> in network {d.name!r}")
        ranges = dhcp.ranges[: found[0]] + dhcp.ranges[found[0] + 1:]
    else:
        if found:
            raise InvalidArgument(f"there is an existing dhcp <range start='{rng.start}'"
                                  f" end='{rng.end}'> in network {d.name!r}")
        ranges = _insert(dhcp.ranges, rng, cmd)
    return _replace_ip(d, index, _with_dhcp(ip, dataclasses.replace(dhcp, ranges=ranges)))


def _forward_interface(d: NetworkDefinition, cmd: Command, parent_index: int,
                       elem: etree._Element) -> NetworkDefinition:
    del parent_index
    if cmd is Command.MODIFY:
        raise InvalidArgument("forward interface entries cannot be modified, only added or"
                              " deleted")
    r.check_attributes(elem, ("dev",))
    r.children(elem, ())
    dev = r.req(elem, "dev")
    forward = d.forward or Forward(mode=ForwardMode.NAT)
    if cmd is Command.DELETE:
        if dev not in forward.interfaces:
            raise InvalidArgument(f"couldn't find an <interface dev='{dev}'> in the <forward>"
                                  f" of network {d.name!r}")
        interfaces = tuple(x for x in forward.interfaces if x != dev)
    else:
        if dev in forward.interfaces:
            raise InvalidArgument(f"there is an existing <interface dev='{dev}'> in network"
                                  f" {d.name!r}")
        interfaces = _insert(forward.interfaces, dev, cmd)
    new_forward = dataclasses.replace(forward, interfaces=interfaces,
                                      dev=interfaces[0] if interfaces else None)
    return dataclasses.replace(d, forward=new_forward)


def _portgroup(d: NetworkDefinition, cmd: Command, parent_index: int,
               elem: etree._Element) -> NetworkDefinition:
    del parent_index
    group = raw.device_element(elem)
    attrs = raw_attributes(group)
    name = attrs.get("name")
    if not name:
        raise r.fail(elem, "missing required attribute 'name'")
    names = [raw_attributes(g).get("name") for g in d.portgroups]
    defaults = [i for i, g in enumerate(d.portgroups) if raw_attributes(g).get("default") == "yes"]
    found = names.index(name) if name in names else None
    if attrs.get("default") == "yes" and defaults and defaults[0] != found:
        raise InvalidArgument(f"a different portgroup of network {d.name!r} is already the"
                              " default; only one default is allowed")
    groups: tuple[RawElement, ...]
    if cmd is Command.ADD_FIRST or cmd is Command.ADD_LAST:
        if found is not None:
            raise InvalidArgument(f"there is already a <portgroup name='{name}'> in network"
                                  f" {d.name!r}")
        groups = _insert(d.portgroups, group, cmd)
    elif found is None:
        raise InvalidArgument(f"couldn't find a <portgroup name='{name}'> in network {d.name!r}")
    elif cmd is Command.DELETE:
        groups = d.portgroups[:found] + d.portgroups[found + 1:]
    else:
        groups = (*d.portgroups[:found], group, *d.portgroups[found + 1:])
    return dataclasses.replace(d, portgroups=groups)


def _with_dns(d: NetworkDefinition, dns: Dns) -> NetworkDefinition:
    return dataclasses.replace(d, dns=None if dns == Dns() else dns)


def _dns_host(d: NetworkDefinition, cmd: Command, parent_index: int,
              elem: etree._Element) -> NetworkDefinition:
    del parent_index
    dns = d.dns or Dns()
    is_add = cmd in (Command.ADD_FIRST, Command.ADD_LAST)
    if is_add:
        host = s.parse_dns_host(elem, s.Marks())
        if any(h.ip == host.ip for h in dns.hosts):
            raise InvalidArgument(f"there is already a DNS <host ip='{host.ip}'> in network"
                                  f" {d.name!r}")
        added = _insert(dns.hosts, host, cmd)
        return _with_dns(d, dataclasses.replace(dns, hosts=added))
    if cmd is Command.MODIFY:
        host = s.parse_dns_host(elem, s.Marks())
        found = [i for i, h in enumerate(dns.hosts) if h.ip == host.ip]
    else:
        ip, names = s.dns_host_parts(elem)
        if ip is None and not names:
            raise r.fail(elem, "needs an 'ip' or a <hostname> to match")
        found = [i for i, h in enumerate(dns.hosts)
                 if h.ip == ip or any(n in h.hostnames for n in names)]
    if not found:
        raise InvalidArgument(f"couldn't locate a matching DNS <host> in network {d.name!r}")
    if len(found) > 1:
        raise InvalidArgument(f"multiple matching DNS <host> records in network {d.name!r}")
    hosts = list(dns.hosts)
    if cmd is Command.MODIFY:
        hosts[found[0]] = host
    else:
        del hosts[found[0]]
    return _with_dns(d, dataclasses.replace(dns, hosts=tuple(hosts)))


def _dns_txt(d: NetworkDefinition, cmd: Command, parent_index: int,
             elem: etree._Element) -> NetworkDefinition:
    del parent_index
    dns = d.dns or Dns()
    if cmd is Command.DELETE:
        r.check_attributes(elem, ("name", "value"))
        name = r.req(elem, "name")
    else:
        txt = s.parse_txt(elem, s.Marks())
        name = txt.name
    found = [i for i, t in enumerate(dns.txts) if t.name == name]
    txts = list(dns.txts)
    if cmd in (Command.ADD_FIRST, Command.ADD_LAST):
        if found:
            raise InvalidArgument(f"there is already a DNS TXT record named {name!r} in"
                                  f" network {d.name!r}")
        txts = list(_insert(dns.txts, txt, cmd))
    elif not found:
        raise InvalidArgument(f"couldn't locate a DNS TXT record named {name!r} in network"
                              f" {d.name!r}")
    elif cmd is Command.DELETE:
        del txts[found[0]]
    else:
        txts[found[0]] = txt
    return _with_dns(d, dataclasses.replace(dns, txts=tuple(txts)))


def _dns_srv(d: NetworkDefinition, cmd: Command, parent_index: int,
             elem: etree._Element) -> NetworkDefinition:
    del parent_index
    dns = d.dns or Dns()
    parts = s.srv_parts(elem)
    if parts["service"] is None and parts["protocol"] is None:
        raise r.fail(elem, "needs 'service' or 'protocol'")
    keys = ("domain", "service", "protocol", "target")
    found = [i for i, srv in enumerate(dns.srvs)
             if all(parts[k] is None or parts[k] == getattr(srv, k) for k in keys)]
    srvs = list(dns.srvs)
    if cmd in (Command.ADD_FIRST, Command.ADD_LAST):
        srv = s.parse_srv(elem, s.Marks())
        if found:
            raise InvalidArgument(f"there is already a DNS SRV record matching all given fields"
                                  f" in network {d.name!r}")
        srvs = list(_insert(dns.srvs, srv, cmd))
    elif not found:
        raise InvalidArgument(f"couldn't locate a matching DNS SRV record in network {d.name!r}")
    elif len(found) > 1:
        raise InvalidArgument(f"multiple DNS SRV records match all given fields in network"
                              f" {d.name!r}")
    elif cmd is Command.DELETE:
        del srvs[found[0]]
    else:
        srvs[found[0]] = s.parse_srv(elem, s.Marks())
    return _with_dns(d, dataclasses.replace(dns, srvs=tuple(srvs)))


_HANDLERS = {
    Section.IP_DHCP_HOST: _dhcp_host,
    Section.IP_DHCP_RANGE: _dhcp_range,
    Section.FORWARD_INTERFACE: _forward_interface,
    Section.PORTGROUP: _portgroup,
    Section.DNS_HOST: _dns_host,
    Section.DNS_TXT: _dns_txt,
    Section.DNS_SRV: _dns_srv,
}
