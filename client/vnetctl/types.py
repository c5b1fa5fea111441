"""Plain values the client returns; no D-Bus types leak out of the library.

Records are NamedTuples, not dataclasses: ``dataclasses`` imports ``inspect``, a few
milliseconds that every command would pay; ``NetworkInfo`` and the list flags live in
:mod:`vnetctl.records`, which ``net-list`` imports without this module (see README
"Performance").
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import records
from .records import NetworkInfo as NetworkInfo  # listed without this module's imports


class ListFlags(enum.IntFlag):
    """``ListNetworks`` filter bits (libvirt's ``virConnectListAllNetworksFlags``); 0 is all."""

    ALL = 0
    ACTIVE = records.ACTIVE
    INACTIVE = records.INACTIVE
    PERSISTENT = records.PERSISTENT
    TRANSIENT = records.TRANSIENT
    AUTOSTART = records.AUTOSTART
    NO_AUTOSTART = records.NO_AUTOSTART


class XmlFlags(enum.IntFlag):
    NONE = 0
    INACTIVE = 1  # the definition the next start will use


class UpdateCommand(enum.IntEnum):
    """``Update`` commands as libvirt's ``virNetworkUpdateCommand``."""

    MODIFY = 1
    DELETE = 2
    ADD_LAST = 3
    ADD_FIRST = 4


class NetworkSection(enum.IntEnum):
    """``Update`` sections as libvirt's ``virNetworkUpdateSection``."""

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


class UpdateFlags(enum.IntFlag):
    """libvirt's ``VIR_NETWORK_UPDATE_AFFECT_*``; CURRENT (0): live if the network is
    running, else its persistent configuration."""

    CURRENT = 0
    LIVE = 1
    CONFIG = 2


def virsh_name(member: enum.Enum) -> str:
    """virsh's spelling of a command or section: ``ADD_LAST`` -> ``add-last``."""
    return member.name.lower().replace("_", "-")


class EventType(enum.IntEnum):
    """Lifecycle event numbers as libvirt's ``virNetworkEventLifecycleType``."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3

    @property
    def label(self) -> str:
        """The word virsh prints: ``Defined``, ``Started``..."""
        return self.name.capitalize()


class NetworkEvent(NamedTuple):
    """One ``NetworkEvent`` signal: ``event`` is an EventType when the number is known."""

    path: str
    name: str
    event: EventType | int
    detail: int

    @property
    def label(self) -> str:
        return self.event.label if isinstance(self.event, EventType) else "unknown"


class DhcpLease(NamedTuple):
    """One lease as libvirt-dbus's ``(sxisssuss)``; empty strings stand for "none"."""

    iface: str
    expiry: int  # seconds since the epoch
    protocol: str  # "ipv4" or "ipv6"
    mac: str
    iaid: str
    ipaddr: str
    prefix: int
    hostname: str
    clientid: str

    @classmethod
    def from_struct(cls, item: Sequence[Any]) -> DhcpLease:
        iface, expiry, kind, mac, iaid, ipaddr, prefix, hostname, clientid = item
        return cls(str(iface), int(expiry), "ipv6" if kind == 1 else "ipv4", str(mac),
                   str(iaid), str(ipaddr), int(prefix), str(hostname), str(clientid))

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def event_type(number: int) -> EventType | int:
    try:
        return EventType(number)
    except ValueError:
        return number
