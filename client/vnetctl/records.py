"""The records ``net-list`` needs, importing nothing at run time.

``vnetctl net-list`` is mostly interpreter start-up; ``typing`` (for ``NamedTuple``),
``enum`` and ``collections`` together cost ~12 ms of a ~35 ms command on the reference
machine, so the listing path uses plain ints and a slotted class. The library's
``ListFlags`` enum (``vnetctl.types``) takes its values from here.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads it as True
if TYPE_CHECKING:
    from typing import Any

# ``ListNetworks`` filter bits (libvirt's ``virConnectListAllNetworksFlags``).
ACTIVE = 1
INACTIVE = 2
PERSISTENT = 4
TRANSIENT = 8
AUTOSTART = 16
NO_AUTOSTART = 32


class NetworkInfo:
    """One network as listed: what ``net-list`` and ``net-info`` print, and its path."""

    _fields = ("name", "uuid", "active", "persistent", "autostart", "bridge",
               "forward_mode", "path")
    __slots__ = _fields

    def __init__(self, name: str, uuid: str, active: bool, persistent: bool,
                 autostart: bool, bridge: str, forward_mode: str, path: str = "") -> None:
        self.name = name
        self.uuid = uuid
        self.active = active
        self.persistent = persistent
        self.autostart = autostart
        self.bridge = bridge
        self.forward_mode = forward_mode
        self.path = path

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetworkInfo):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._fields)
        return f"NetworkInfo({inner})"

    def _asdict(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self._fields}

    def to_json(self) -> dict[str, Any]:
        data = self._asdict()
        del data["path"]
        return data


class LeaseRecord:
    """One lease of ``GetDHCPLeases`` as ``net-dhcp-leases`` prints it (the library's
    ``vnetctl.types.DhcpLease`` is a NamedTuple, which imports typing)."""

    __slots__ = ("clientid", "expiry", "hostname", "ipaddr", "mac", "prefix", "protocol")

    def __init__(self, item: Any) -> None:
        _iface, expiry, kind, mac, _iaid, ipaddr, prefix, hostname, clientid = item
        self.expiry = int(expiry)
        self.protocol = "ipv6" if kind == 1 else "ipv4"
        self.mac = str(mac)
        self.ipaddr = str(ipaddr)
        self.prefix = int(prefix)
        self.hostname = str(hostname)
        self.clientid = str(clientid)
