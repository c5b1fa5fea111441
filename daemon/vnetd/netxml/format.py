"""``NetworkDefinition`` -> libvirt network XML, in libvirt's order and style.

Follows ``virNetworkDefFormatBuf`` of libvirt 9.0: single quotes, two-space
indentation, ``<forward dev>`` repeated as the first ``<interface>``,
``stp``/``delay`` written for bridge-owning modes, and an empty ``<ip>`` written
as an open/close pair (libvirt 9.0) unless ``self_closing_empty_ip`` asks for the
later ``<ip .../>`` form.
"""

from __future__ import annotations

from vnetd.model import (
    VIRTUAL_MODES,
    Bandwidth,
    BandwidthRate,
    Dhcp,
    Dns,
    Forward,
    ForwardMode,
    IpConfig,
    Lease,
    NetworkDefinition,
    Route,
)
from vnetd.netxml.escape import escape_text, quote_single
from vnetd.netxml.raw import indent_metadata, indent_raw

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"


def _q(value: str) -> str:
    return quote_single(value)


def _attr(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    return f" {name}={_q(str(value))}"


def _text(value: str) -> str:
    return escape_text(value)


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def add(self, line: str) -> None:
        self.lines.append("  " * self.level + line)

    def extend(self, lines: list[str]) -> None:
        self.lines.extend(lines)


def format_network(definition: NetworkDefinition, *, self_closing_empty_ip: bool = False) -> str:
    d = definition
    out = _Out()
    head = "<network"
    if d.ipv6:
        head += " ipv6='yes'"
    head += _attr("trustGuestRxFilters", d.trust_guest_rx_filters)
    if d.dnsmasq_options:
        head += f" xmlns:dnsmasq={_q(DNSMASQ_NS)}"
    out.add(head + ">")
    out.level = 1
    out.add(f"<name>{_text(d.name)}</name>")
    if d.uuid is not None:
        out.add(f"<uuid>{_text(d.uuid)}</uuid>")
    if d.title is not None:
        out.add(f"<title>{_text(d.title)}</title>")
    if d.description is not None:
        out.add(f"<description>{_text(d.description)}</description>")
    if d.metadata is not None:
        out.lines.append(indent_metadata(d.metadata, 1))
    if d.forward is not None:
        _forward(out, d.forward)
    _bridge(out, d)
    if d.mtu is not None:
        out.add(f"<mtu size='{d.mtu}'/>")
    if d.mac is not None:
        out.add(f"<mac address={_q(d.mac.lower())}/>")
    if d.domain is not None:
        dom = d.domain
        out.add(f"<domain{_attr('name', dom.name)}{_attr('localOnly', dom.local_only)}"
                f"{_attr('register', dom.register)}/>")
    if d.dns is not None:
        _dns(out, d.dns)
    if d.vlan is not None:
        out.extend(indent_raw(d.vlan, out.level))
    if d.bandwidth is not None:
        _bandwidth(out, d.bandwidth)
    for ip in d.ips:
        _ip(out, ip, self_closing_empty_ip)
    for route in d.routes:
        _route(out, route)
    if d.virtualport is not None:
        out.extend(indent_raw(d.virtualport, out.level))
    for group in d.portgroups:
        out.extend(indent_raw(group, out.level))
    if d.port_isolated is not None:
        out.add(f"<port{_attr('isolated', d.port_isolated)}/>")
    if d.dnsmasq_options:
        out.add("<dnsmasq:options>")
        for option in d.dnsmasq_options:
            out.add(f"  <dnsmasq:option value={_q(option)}/>")
        out.add("</dnsmasq:options>")
    out.level = 0
    out.add("</network>")
    return "\n".join(out.lines) + "\n"


def _forward(out: _Out, fwd: Forward) -> None:
    mode = fwd.effective_mode
    pfs = [h for h in fwd.hardware if h.xml.startswith("<pf")]
    drivers = [h for h in fwd.hardware if h.xml.startswith("<driver")]
    addresses = [h for h in fwd.hardware if h.xml.startswith("<address")]
    interfaces = list(fwd.interfaces)
    if fwd.dev is not None and not interfaces:
        interfaces = [fwd.dev]
    head = "<forward"
    if interfaces and not pfs:
        head += _attr("dev", interfaces[0])
    head += _attr("mode", mode.value)
    if mode is ForwardMode.HOSTDEV:
        head += _attr("managed", bool(fwd.managed))
    nat = fwd.nat if mode is ForwardMode.NAT else None
    has_nat = nat is not None and (
        nat.ipv6 is not None or nat.address_start is not None or nat.port_start is not None
    )
    if not (interfaces or fwd.hardware or has_nat):
        out.add(head + "/>")
        return
    out.add(head + ">")
    out.level += 1
    for driver in drivers:
        out.extend(indent_raw(driver, out.level))
    if nat is not None and has_nat:
        inner = nat.address_start is not None or nat.port_start is not None
        nat_head = "<nat" + _attr("ipv6", nat.ipv6)
        if not inner:
            out.add(nat_head + "/>")
        else:
            out.add(nat_head + ">")
            if nat.address_start is not None:
                out.add(f"  <address{_attr('start', nat.address_start)}"
                        f"{_attr('end', nat.address_end)}/>")
            if nat.port_start is not None:
                out.add(f"  <port{_attr('start', nat.port_start)}{_attr('end', nat.port_end)}/>")
            out.add("</nat>")
    for pf in pfs:
        out.extend(indent_raw(pf, out.level))
    if not pfs:
        for name in interfaces:
            out.add(f"<interface{_attr('dev', name)}/>")
    for address in addresses:
        out.extend(indent_raw(address, out.level))
    out.level -= 1
    out.add("</forward>")


def _bridge(out: _Out, d: NetworkDefinition) -> None:
    virtual = d.forward is None or d.forward.effective_mode in VIRTUAL_MODES
    bridge = d.bridge
    if not virtual and (bridge is None or (bridge.name is None and
                                           bridge.mac_table_manager is None)):
        return
    line = "<bridge"
    if bridge is not None:
        line += _attr("name", bridge.name) + _attr("zone", bridge.zone)
    if virtual:
        stp = bridge is None or bridge.stp is not False
        delay = (bridge.delay if bridge is not None else None) or 0
        line += f" stp='{'on' if stp else 'off'}' delay='{delay}'"
    if bridge is not None:
        line += _attr("macTableManager", bridge.mac_table_manager)
    out.add(line + "/>")


def _dns(out: _Out, dns: Dns) -> None:
    head = "<dns" + _attr("enable", dns.enable) + _attr("forwardPlainNames",
                                                         dns.forward_plain_names)
    if not (dns.forwarders or dns.txts or dns.srvs or dns.hosts):
        out.add(head + "/>")
        return
    out.add(head + ">")
    out.level += 1
    for fwd in dns.forwarders:
        out.add(f"<forwarder{_attr('domain', fwd.domain)}{_attr('addr', fwd.addr)}/>")
    for txt in dns.txts:
        out.add(f"<txt{_attr('name', txt.name)}{_attr('value', txt.value)}/>")
    for srv in dns.srvs:
        out.add(
            "<srv" + _attr("service", srv.service) + _attr("protocol", srv.protocol)
            + _attr("domain", srv.domain) + _attr("target", srv.target)
            + _attr("port", srv.port or None) + _attr("priority", srv.priority or None)
            + _attr("weight", srv.weight or None) + "/>"
        )
    for host in dns.hosts:
        out.add(f"<host{_attr('ip', host.ip)}>")
        for name in host.hostnames:
            out.add(f"  <hostname>{_text(name)}</hostname>")
        out.add("</host>")
    out.level -= 1
    out.add("</dns>")


def _lease(lease: Lease) -> str:
    if lease.expiry == 0:
        return "<lease expiry='0'/>"
    return f"<lease expiry='{lease.expiry}' unit='{lease.unit or 'minutes'}'/>"


def _dhcp(out: _Out, dhcp: Dhcp) -> None:
    out.add("<dhcp>")
    out.level += 1
    for rng in dhcp.ranges:
        head = f"<range{_attr('start', rng.start)}{_attr('end', rng.end)}"
        if rng.lease is None:
            out.add(head + "/>")
        else:
            out.add(head + ">")
            out.add("  " + _lease(rng.lease))
            out.add("</range>")
    for host in dhcp.hosts:
        head = ("<host" + _attr("mac", host.mac.lower() if host.mac else None)
                + _attr("id", host.id) + _attr("name", host.name) + _attr("ip", host.ip))
        if host.lease is None:
            out.add(head + "/>")
        else:
            out.add(head + ">")
            out.add("  " + _lease(host.lease))
            out.add("</host>")
    if dhcp.bootp is not None:
        out.add(f"<bootp{_attr('file', dhcp.bootp.file)}{_attr('server', dhcp.bootp.server)}/>")
    out.level -= 1
    out.add("</dhcp>")


def _ip(out: _Out, ip: IpConfig, self_closing: bool) -> None:
    head = ("<ip" + _attr("family", ip.family) + _attr("address", ip.address)
            + _attr("netmask", ip.netmask) + _attr("prefix", ip.prefix or None)
            + _attr("localPtr", ip.local_ptr))
    has_dhcp = ip.dhcp is not None and bool(ip.dhcp.ranges or ip.dhcp.hosts)
    if self_closing and ip.tftp_root is None and not has_dhcp:
        out.add(head + "/>")
        return
    out.add(head + ">")
    out.level += 1
    if ip.tftp_root is not None:
        out.add(f"<tftp{_attr('root', ip.tftp_root)}/>")
    if has_dhcp and ip.dhcp is not None:
        _dhcp(out, ip.dhcp)
    out.level -= 1
    out.add("</ip>")


def _route(out: _Out, route: Route) -> None:
    out.add("<route" + _attr("family", route.family) + _attr("address", route.address)
            + _attr("netmask", route.netmask) + _attr("prefix", route.prefix)
            + _attr("gateway", route.gateway) + _attr("metric", route.metric or None) + "/>")


def _rate(out: _Out, name: str, rate: BandwidthRate | None) -> None:
    if rate is None:
        return
    out.add(f"<{name}" + _attr("average", rate.average or None) + _attr("peak", rate.peak or None)
            + _attr("floor", rate.floor or None) + _attr("burst", rate.burst or None) + "/>")


def _bandwidth(out: _Out, bandwidth: Bandwidth) -> None:
    if bandwidth.inbound is None and bandwidth.outbound is None:
        return
    out.add("<bandwidth>")
    out.level += 1
    _rate(out, "inbound", bandwidth.inbound)
    _rate(out, "outbound", bandwidth.outbound)
    out.level -= 1
    out.add("</bandwidth>")
