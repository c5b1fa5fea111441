"""Listing networks from one ``GetManagedObjects`` answer (pure: no bus, no I/O).

One call returns every network with all its properties; the ``ListNetworks`` flags are
applied here with libvirt's rules, so a listing is one round trip whatever the count.
"""

from __future__ import annotations

from .records import (
    ACTIVE,
    AUTOSTART,
    INACTIVE,
    NO_AUTOSTART,
    PERSISTENT,
    TRANSIENT,
    NetworkInfo,
)

TYPE_CHECKING = False  # see records.py: net-list does not import typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

NETWORK_IFACE = "org.vnetd1.Network"

_GROUPS = ((ACTIVE, INACTIVE, "active"), (PERSISTENT, TRANSIENT, "persistent"),
           (AUTOSTART, NO_AUTOSTART, "autostart"))


def list_flags(args: Any) -> int:
    """virsh's flag arithmetic: active by default, --inactive or --all replace it.

    ``args``: net-list's argparse Namespace or a quick.NetListOptions."""
    flags = ACTIVE
    if args.inactive:
        flags = INACTIVE
    if args.all:
        flags = ACTIVE | INACTIVE
    if args.persistent:
        flags |= PERSISTENT
    if args.transient:
        flags |= TRANSIENT
    if args.autostart:
        flags |= AUTOSTART
    if args.no_autostart:
        flags |= NO_AUTOSTART
    return flags


def matches(info: NetworkInfo, flags: int) -> bool:
    """libvirt's virNetworkObjMatch: within each pair of bits, either set bit may match;
    a pair with neither bit set does not filter."""
    for yes, no, attribute in _GROUPS:
        if flags & (yes | no):
            value = getattr(info, attribute)
            if not ((flags & yes and value) or (flags & no and not value)):
                return False
    return True


def info_from_properties(path: str, props: Mapping[str, Any]) -> NetworkInfo:
    """NetworkInfo from plain property values (variants already unwrapped)."""
    return NetworkInfo(
        name=str(props.get("Name", "")),
        uuid=str(props.get("UUID", "")),
        active=bool(props.get("Active", False)),
        persistent=bool(props.get("Persistent", False)),
        autostart=bool(props.get("Autostart", False)),
        bridge=str(props.get("BridgeName", "")),
        forward_mode=str(props.get("ForwardMode", "")),
        path=path,
    )


def by_name(networks: Iterable[NetworkInfo]) -> list[NetworkInfo]:
    """virsh's order: case-insensitive by name, ties by the name itself."""
    return sorted(networks, key=lambda n: (n.name.casefold(), n.name))


def networks_from_managed_objects(objects: Mapping[str, Mapping[str, Mapping[str, Any]]],
                                  flags: int = 0) -> list[NetworkInfo]:
    """The networks in a ``GetManagedObjects`` reply (plain values) that match ``flags``."""
    infos = (info_from_properties(path, ifaces[NETWORK_IFACE])
             for path, ifaces in objects.items() if NETWORK_IFACE in ifaces)
    return by_name(info for info in infos if matches(info, flags))
