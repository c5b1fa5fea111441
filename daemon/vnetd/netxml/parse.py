"""libvirt network XML -> ``NetworkDefinition`` (canonical, validated)."""

from __future__ import annotations

from typing import Literal, cast

from lxml import etree

from vnetd.model import (
    VIRTUAL_MODES,
    Bandwidth,
    BandwidthRate,
    Bridge,
    Dns,
    Domain,
    Forward,
    ForwardMode,
    Nat,
    NetworkDefinition,
    RawElement,
)
from vnetd.netxml import _read as r
from vnetd.netxml import raw
from vnetd.netxml import sections as s
from vnetd.validate import canonical_uuid, validate_definition
from vnetd.xmlsafe import parse_xml

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

_NETWORK_CHILDREN = (
    "name", "uuid", "title", "description", "metadata", "forward", "bridge", "mtu", "mac",
    "domain", "dns", "ip", "route", "bandwidth", "port", "virtualport", "vlan", "portgroup",
)


def parse_network(xml: str | bytes) -> NetworkDefinition:
    """Parse, canonicalise and validate one ``<network>`` document."""
    root = parse_xml(xml, what="network XML")
    marks = s.Marks()
    definition = network_from_element(root, marks)
    validate_definition(definition, marks.line_of)
    return definition


def network_from_element(root: etree._Element, marks: s.Marks) -> NetworkDefinition:
    if etree.QName(root).namespace is not None or r.tag(root) != "network":
        raise r.fail(root, "the root element must be <network>")
    r.check_attributes(root, ("ipv6", "trustGuestRxFilters"))
    kids, dnsmasq_options = _split_children(root)

    name_elem = r.only_one(kids, "name")
    if name_elem is None:
        raise r.fail(root, "missing required element <name>")
    name = r.text_of(name_elem)
    uuid_elem = r.only_one(kids, "uuid")
    uuid = None
    if uuid_elem is not None:
        text = r.text_of(uuid_elem)
        uuid = canonical_uuid(text)
        if uuid is None:
            raise r.fail(uuid_elem, f"{text!r} is not a UUID")

    forward = _forward(r.only_one(kids, "forward"), marks)
    virtual = forward is None or forward.effective_mode in VIRTUAL_MODES

    definition = NetworkDefinition(
        name=name,
        uuid=uuid,
        title=_opt_text(r.only_one(kids, "title")),
        description=_opt_text(r.only_one(kids, "description")),
        metadata=_metadata(r.only_one(kids, "metadata")),
        # libvirt writes ipv6 only when 'yes': 'no' and absent are the same.
        ipv6=True if r.yes_no(root, "ipv6") else None,
        trust_guest_rx_filters=r.yes_no(root, "trustGuestRxFilters"),
        forward=forward,
        bridge=_bridge(r.only_one(kids, "bridge"), virtual, marks),
        mtu=_mtu(r.only_one(kids, "mtu")),
        mac=_mac(r.only_one(kids, "mac")),
        domain=_domain(r.only_one(kids, "domain"), marks),
        dns=_dns(r.only_one(kids, "dns"), marks),
        ips=tuple(s.parse_ip(e, marks) for e in r.all_of(kids, "ip")),
        routes=tuple(s.parse_route(e, marks) for e in r.all_of(kids, "route")),
        port_isolated=_port(r.only_one(kids, "port")),
        bandwidth=_bandwidth(r.only_one(kids, "bandwidth")),
        dnsmasq_options=dnsmasq_options,
        virtualport=_device(r.only_one(kids, "virtualport"), marks),
        vlan=_device(r.only_one(kids, "vlan"), marks),
        portgroups=tuple(
            marks.mark(raw.device_element(e), e) for e in r.all_of(kids, "portgroup")
        ),
    )
    return marks.mark(definition, root)


def _split_children(root: etree._Element) -> tuple[list[etree._Element], tuple[str, ...]]:
    """Plain children of <network>, plus the values of <dnsmasq:options>."""
    if root.text and root.text.strip():
        raise r.fail(root, f"unexpected text {root.text.strip()[:40]!r}")
    plain: list[etree._Element] = []
    options: list[str] = []
    seen_options = False
    for child in root:
        if child.tail and child.tail.strip():
            raise r.fail(root, f"unexpected text {child.tail.strip()[:40]!r}")
        qname = etree.QName(child)
        if qname.namespace == DNSMASQ_NS and qname.localname == "options":
            if seen_options:
                raise r.fail(child, "may appear only once")
            seen_options = True
            options.extend(_dnsmasq_options(child))
        elif qname.namespace is None and qname.localname in _NETWORK_CHILDREN:
            plain.append(child)
        else:
            raise r.fail(child, "unknown element inside <network>")
    return plain, tuple(options)


def _dnsmasq_options(elem: etree._Element) -> list[str]:
    values = []
    for child in elem:
        qname = etree.QName(child)
        if qname.namespace != DNSMASQ_NS or qname.localname != "option":
            raise r.fail(child, "only <dnsmasq:option> is allowed in <dnsmasq:options>")
        r.check_attributes(child, ("value",))
        values.append(r.req(child, "value"))
    return values


def _opt_text(elem: etree._Element | None) -> str | None:
    return None if elem is None else r.text_of(elem)


def _metadata(elem: etree._Element | None) -> RawElement | None:
    return None if elem is None else raw.metadata_element(elem)


def _device(elem: etree._Element | None, marks: s.Marks) -> RawElement | None:
    return None if elem is None else marks.mark(raw.device_element(elem), elem)


def _forward(elem: etree._Element | None, marks: s.Marks) -> Forward | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("mode", "dev", "managed"))
    kids = r.children(elem, ("nat", "interface", "pf", "address", "driver"))
    mode = ForwardMode(r.choice(elem, "mode", [m.value for m in ForwardMode]) or "nat")
    dev = r.opt(elem, "dev")
    interfaces: list[str] = [dev] if dev is not None else []
    for index, child in enumerate(r.all_of(kids, "interface")):
        r.check_attributes(child, ("dev",))
        r.children(child, ())
        name = r.req(child, "dev")
        if index == 0 and dev is not None:
            if name != dev:
                raise r.fail(child, f"forward dev {dev!r} must match the first <interface>"
                             f" dev {name!r}")
            continue
        if name in interfaces:
            raise r.fail(child, f"interface {name!r} can only be listed once")
        interfaces.append(name)
    hardware: list[RawElement] = []
    driver = r.only_one(kids, "driver")
    if driver is not None:
        hardware.append(marks.mark(raw.device_element(driver), driver))
    pfs = r.all_of(kids, "pf")
    if len(pfs) > 1:
        raise r.fail(pfs[1], "only one <pf> is allowed")
    if pfs and interfaces:
        raise r.fail(pfs[0], "<pf> cannot be combined with forward dev or <interface>")
    hardware.extend(marks.mark(raw.device_element(pf), pf) for pf in pfs)
    addresses = r.all_of(kids, "address")
    if addresses and (interfaces or pfs):
        raise r.fail(addresses[0], "<address> and <interface>/<pf> are mutually exclusive")
    seen: set[tuple[int, ...]] = set()
    for addr in addresses:
        key = _pci_key(addr)
        if key in seen:
            raise r.fail(addr, "PCI device {:04x}:{:02x}:{:02x}.{:x} can only be listed"
                         " once".format(*key))
        seen.add(key)
        hardware.append(marks.mark(raw.device_element(addr), addr))
    nat_elem = r.only_one(kids, "nat")
    nat = None
    if nat_elem is not None:
        if mode is not ForwardMode.NAT:
            raise r.fail(nat_elem, f"only allowed with forward mode 'nat', not {mode.value!r}")
        nat = _nat(nat_elem)
    managed = r.yes_no(elem, "managed")
    forward = Forward(
        mode=mode,
        dev=interfaces[0] if interfaces else None,
        managed=bool(managed) if mode is ForwardMode.HOSTDEV else None,
        nat=nat,
        interfaces=tuple(interfaces),
        hardware=tuple(hardware),
    )
    return marks.mark(forward, elem)


def _pci_key(elem: etree._Element) -> tuple[int, int, int, int]:
    r.check_attributes(elem, ("type", "domain", "bus", "slot", "function", "multifunction"))
    if r.opt(elem, "type") != "pci":
        raise r.fail(elem, "only type='pci' addresses are allowed in <forward>")
    values = []
    for name in ("domain", "bus", "slot", "function"):
        text = r.opt(elem, name) or "0"
        try:
            values.append(int(text, 0))
        except ValueError:
            raise r.fail(elem, f"attribute {name!r}: {text!r} is not a number") from None
    return values[0], values[1], values[2], values[3]


def _nat(elem: etree._Element) -> Nat | None:
    r.check_attributes(elem, ("ipv6",))
    kids = r.children(elem, ("address", "port"))
    ipv6 = r.yes_no(elem, "ipv6")
    start = end = None
    address = r.only_one(kids, "address")
    if address is not None:
        r.check_attributes(address, ("start", "end"))
        r.children(address, ())
        start = r.req_ip(address, "start", 4)
        end = r.req_ip(address, "end", 4)
    port_start = port_end = None
    port = r.only_one(kids, "port")
    if port is not None:
        r.check_attributes(port, ("start", "end"))
        r.children(port, ())
        port_start = r.uint(port, "start", 1, 65535)
        port_end = r.uint(port, "end", 1, 65535)
        if port_start is None:
            raise r.fail(port, "missing required attribute 'start'")
    if ipv6 is None and start is None and port_start is None:
        return None
    return Nat(ipv6=ipv6, address_start=start, address_end=end, port_start=port_start,
               port_end=port_end)


def _bridge(elem: etree._Element | None, virtual: bool, marks: s.Marks) -> Bridge | None:
    if elem is None:
        # libvirt always writes <bridge stp='on' delay='0'/> for the bridge-owning modes.
        return Bridge(stp=True, delay=0) if virtual else None
    r.check_attributes(elem, ("name", "stp", "delay", "macTableManager", "zone"))
    r.children(elem, ())
    name = r.opt(elem, "name")
    stp = r.on_off(elem, "stp")
    delay = r.uint(elem, "delay")
    manager = cast(
        "Literal['kernel', 'libvirt'] | None",
        r.choice(elem, "macTableManager", ("kernel", "libvirt")),
    )
    zone = r.opt(elem, "zone")
    if virtual:
        bridge = Bridge(name=name, stp=True if stp is None else stp,
                        delay=0 if delay is None else delay, mac_table_manager=manager,
                        zone=zone)
    else:
        bridge = Bridge(name=name, stp=stp, delay=delay, mac_table_manager=manager, zone=zone)
        if bridge == Bridge():
            return None
    return marks.mark(bridge, elem)


def _mtu(elem: etree._Element | None) -> int | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("size",))
    r.children(elem, ())
    size = r.uint(elem, "size", 1, 65535)
    if size is None:
        raise r.fail(elem, "missing required attribute 'size'")
    return size


def _mac(elem: etree._Element | None) -> str | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("address",))
    r.children(elem, ())
    mac = r.opt_mac(elem, "address")
    if mac is None:
        raise r.fail(elem, "missing required attribute 'address'")
    return mac


def _domain(elem: etree._Element | None, marks: s.Marks) -> Domain | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("name", "localOnly", "register"))
    r.children(elem, ())
    domain = Domain(r.req(elem, "name"), r.yes_no(elem, "localOnly"), r.yes_no(elem, "register"))
    return marks.mark(domain, elem)


def _dns(elem: etree._Element | None, marks: s.Marks) -> Dns | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("enable", "forwardPlainNames"))
    kids = r.children(elem, ("forwarder", "txt", "host", "srv"))
    enable = r.yes_no(elem, "enable")
    if enable is False and kids:
        raise r.fail(elem, "enable='no' does not allow any child element"
                     f" (found <{r.tag(kids[0])}>)")
    dns = Dns(
        enable=enable,
        forward_plain_names=r.yes_no(elem, "forwardPlainNames"),
        forwarders=tuple(s.parse_forwarder(k, marks) for k in r.all_of(kids, "forwarder")),
        txts=tuple(s.parse_txt(k, marks) for k in r.all_of(kids, "txt")),
        hosts=tuple(s.parse_dns_host(k, marks) for k in r.all_of(kids, "host")),
        srvs=tuple(s.parse_srv(k, marks) for k in r.all_of(kids, "srv")),
    )
    if dns == Dns():
        return None
    return marks.mark(dns, elem)


def _port(elem: etree._Element | None) -> bool | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("isolated",))
    r.children(elem, ())
    return r.yes_no(elem, "isolated")


def _rate(elem: etree._Element | None) -> BandwidthRate | None:
    if elem is None:
        return None
    r.check_attributes(elem, ("average", "peak", "burst", "floor"))
    r.children(elem, ())
    rate = BandwidthRate(
        average=r.uint(elem, "average", 0, 2**64 - 1) or None,
        peak=r.uint(elem, "peak", 0, 2**64 - 1) or None,
        burst=r.uint(elem, "burst", 0, 2**64 - 1) or None,
        floor=r.uint(elem, "floor", 0, 2**64 - 1) or None,
    )
    if rate.average is None and rate.floor is None:
        raise r.fail(elem, "needs a non-zero 'average' (or 'floor')")
    return rate


def _bandwidth(elem: etree._Element | None) -> Bandwidth | None:
    if elem is None:
        return None
    r.check_attributes(elem, ())
    kids = r.children(elem, ("inbound", "outbound"))
    bandwidth = Bandwidth(_rate(r.only_one(kids, "inbound")), _rate(r.only_one(kids, "outbound")))
    return None if bandwidth == Bandwidth() else bandwidth
