"""Immutable typed network definitions (libvirt network XML as data).

Every class is a frozen dataclass holding only values: parsing and formatting live
in ``vnetd.netxml``, defaults in ``vnetd.defaults``, checks in ``vnetd.validate``.
Optional attributes are ``None`` when the XML did not carry them, so that a
definition formats back to what the user wrote (libvirt keeps that distinction
too, e.g. ``<ip family='ipv4'>`` versus ``<ip>``).

Hardware-only forms (interface pools, PF/VF pools, virtualport, vlan, portgroups)
are carried as canonical XML fragments in ``RawElement``: vnetd round-trips them
so that a libvirt definition survives a define, but refuses to start them
(see ``vnetd.support``).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Family = Literal["ipv4", "ipv6"]


class ForwardMode(enum.StrEnum):
    NAT = "nat"
    ROUTE = "route"
    OPEN = "open"
    BRIDGE = "bridge"
    PRIVATE = "private"
    VEPA = "vepa"
    PASSTHROUGH = "passthrough"
    HOSTDEV = "hostdev"


#: Modes in which vnetd builds and owns a Linux bridge (plus "isolated": no <forward>).
VIRTUAL_MODES = frozenset({ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN})


@dataclass(frozen=True, slots=True)
class RawElement:
    """A canonical XML fragment kept verbatim (hardware-only or application data)."""

    xml: str


@dataclass(frozen=True, slots=True)
class Nat:
    """``<forward><nat>``: address and port ranges for masquerading."""

    ipv6: bool | None = None
    address_start: str | None = None
    address_end: str | None = None
    port_start: int | None = None
    port_end: int | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """``<forward>``: the mode, and the devices of the hardware modes."""

    mode: ForwardMode | None = None  # None: attribute absent, which means nat
    dev: str | None = None
    managed: bool | None = None
    nat: Nat | None = None
    interfaces: tuple[str, ...] = ()  # <interface dev=…/> pool (formatted from dev too)
    # Hardware pools and driver, round-tripped only: <pf>, <address type='pci'>, <driver>.
    hardware: tuple[RawElement, ...] = ()

    @property
    def effective_mode(self) -> ForwardMode:
        return self.mode or ForwardMode.NAT


@dataclass(frozen=True, slots=True)
class Bridge:
    """``<bridge>``: name, STP and its forward delay."""

    name: str | None = None
    stp: bool | None = None
    delay: int | None = None
    mac_table_manager: Literal["kernel", "libvirt"] | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    """``<domain>``: the DNS domain of the network."""

    name: str
    local_only: bool | None = None
    register: bool | None = None


@dataclass(frozen=True, slots=True)
class DnsForwarder:
    """``<dns><forwarder>``: an upstream server, for a domain or all."""

    addr: str | None = None
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class DnsTxt:
    """``<dns><txt>``."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DnsHost:
    """``<dns><host>``: an address and its host names."""

    ip: str
    hostnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DnsSrv:
    """``<dns><srv>``."""

    service: str
    protocol: str
    domain: str | None = None
    target: str | None = None
    port: int | None = None
    priority: int | None = None
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class Dns:
    """``<dns>``."""

    enable: bool | None = None
    forward_plain_names: bool | None = None
    forwarders: tuple[DnsForwarder, ...] = ()
    txts: tuple[DnsTxt, ...] = ()
    hosts: tuple[DnsHost, ...] = ()
    srvs: tuple[DnsSrv, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.enable is not False


LeaseUnit = Literal["seconds", "minutes", "hours"]


@dataclass(frozen=True, slots=True)
class Lease:
    """``<lease>``: a DHCP lease time."""

    expiry: int
    unit: LeaseUnit | None = None  # None: attribute absent, libvirt's default is minutes

    @property
    def seconds(self) -> int:
        """Lease time in seconds; 0 means infinite."""
        factor = {"seconds": 1, "minutes": 60, "hours": 3600}[self.unit or "minutes"]
        return self.expiry * factor


@dataclass(frozen=True, slots=True)
class DhcpRange:
    """``<dhcp><range>``."""

    start: str
    end: str
    lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class DhcpHost:
    """``<dhcp><host>``: a reservation by MAC (IPv4) or by id or name (IPv6)."""

    mac: str | None = None
    id: str | None = None
    name: str | None = None
    ip: str | None = None
    lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class Bootp:
    """``<dhcp><bootp>``."""

    file: str
    server: str | None = None


@dataclass(frozen=True, slots=True)
class Dhcp:
    """``<dhcp>``."""

    ranges: tuple[DhcpRange, ...] = ()
    hosts: tuple[DhcpHost, ...] = ()
    bootp: Bootp | None = None


@dataclass(frozen=True, slots=True)
class IpConfig:
    """``<ip>``: an address on the bridge and what is served there."""

    address: str | None = None
    family: Family | None = None  # as written; ``version`` is what counts
    netmask: str | None = None
    prefix: int | None = None
    local_ptr: bool | None = None
    tftp_root: str | None = None
    dhcp: Dhcp | None = None

    @property
    def version(self) -> int:
        if self.family == "ipv6":
            return 6
        if self.family == "ipv4":
            return 4
        return 6 if self.address is not None and ":" in self.address else 4

    @property
    def prefix_length(self) -> int:
        """The prefix from ``prefix`` or ``netmask``, or libvirt's classful default."""
        if self.prefix is not None:
            return self.prefix
        if self.netmask is not None:
            return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen
        if self.version == 6:
            return 64
        # libvirt's virSocketAddrPrefix fallback: classful prefix from the address.
        first = int((self.address or "0").split(".")[0])
        return 8 if first < 128 else 16 if first < 192 else 24

    @property
    def interface(self) -> IPInterface:
        return ipaddress.ip_interface(f"{self.address}/{self.prefix_length}")

    @property
    def network(self) -> IPNetwork:
        return self.interface.network


@dataclass(frozen=True, slots=True)
class Route:
    """``<route>``: a static route via a gateway on the network."""

    address: str
    gateway: str
    family: Family | None = None
    prefix: int | None = None
    netmask: str | None = None
    metric: int | None = None

    @property
    def version(self) -> int:
        if self.family == "ipv6":
            return 6
        if self.family == "ipv4":
            return 4
        return 6 if ":" in self.address else 4

    @property
    def network(self) -> IPNetwork:
        if self.prefix is not None:
            plen = self.prefix
        elif self.netmask is not None:
            plen = ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen
        else:
            plen = 128 if self.version == 6 else 32
        return ipaddress.ip_network(f"{self.address}/{plen}", strict=False)


@dataclass(frozen=True, slots=True)
class BandwidthRate:
    """``<bandwidth><inbound|outbound>``."""

    average: int | None = None
    peak: int | None = None
    burst: int | None = None
    floor: int | None = None


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``<bandwidth>``."""

    inbound: BandwidthRate | None = None
    outbound: BandwidthRate | None = None


@dataclass(frozen=True, slots=True)
class NetworkDefinition:
    """A network: libvirt's ``<network>`` document, parsed."""

    name: str
    uuid: str | None = None
    title: str | None = None
    description: str | None = None
    metadata: RawElement | None = None
    ipv6: bool | None = None  # <network ipv6='yes'>
    trust_guest_rx_filters: bool | None = None
    forward: Forward | None = None
    bridge: Bridge | None = None
    mtu: int | None = None
    mac: str | None = None
    domain: Domain | None = None
    dns: Dns | None = None
    ips: tuple[IpConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    port_isolated: bool | None = None
    bandwidth: Bandwidth | None = None
    dnsmasq_options: tuple[str, ...] = ()
    # Hardware-only parts, round-tripped verbatim: <virtualport>, <vlan>, <portgroup>s.
    virtualport: RawElement | None = None
    vlan: RawElement | None = None
    portgroups: tuple[RawElement, ...] = field(default=())

    @property
    def mode(self) -> str:
        """``nat``, ``route``, ``open``, ``isolated`` or a hardware mode name."""
        if self.forward is None:
            return "isolated"
        return self.forward.effective_mode.value

    @property
    def bridge_name(self) -> str | None:
        return self.bridge.name if self.bridge else None

    def ips_of(self, version: int) -> tuple[IpConfig, ...]:
        return tuple(ip for ip in self.ips if ip.version == version)

    def dhcp_ip(self, version: int) -> IpConfig | None:
        """The one <ip> of this family that carries DHCP, if any."""
        for ip in self.ips_of(version):
            if ip.dhcp is not None:
                return ip
        return None
