"""dnsmasq's own lease file (``dhcp-leasefile``) as typed records.

Format (dnsmasq ``lease.c``), one lease per line, fields separated by one space:

- IPv4: ``EXPIRY MAC IP HOSTNAME CLIENT-ID``; a MAC of another hardware type is written
  ``TT-xx:xx…`` (TT = ARP hardware type in hex), ``*`` stands for "none".
- ``duid SERVER-DUID`` precedes the IPv6 leases.
- IPv6: ``EXPIRY IAID IP HOSTNAME CLIENT-DUID``; the IAID carries a ``T`` prefix for a
  temporary address (IA_TA).

``EXPIRY`` is the absolute time in seconds since the epoch; 0 means the lease never ends.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import InvalidArgument
from ..model import IPAddress

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger(__name__)

ETHERNET = 1


@dataclass(frozen=True)
class DhcpLease:
    """One line of dnsmasq's lease file, IPv4 or IPv6."""

    expiry: int  # seconds since the epoch; 0: never expires
    protocol: Literal["ipv4", "ipv6"]
    ip: IPAddress
    mac: str | None = None  # IPv4 only (dnsmasq does not store it for DHCPv6)
    hostname: str | None = None
    client_id: str | None = None  # IPv4 client identifier or the client's DUID (IPv6)
    iaid: int | None = None  # IPv6 only
    temporary: bool = False  # IPv6 IA_TA address
    hardware_type: int | None = None  # IPv4: ARP hardware type (1 = Ethernet)
    server_duid: str | None = None  # IPv6: the server DUID line that preceded it

    @property
    def expires_at(self) -> datetime | None:
        # Imported here: datetime costs ~2 ms at every daemon start, and only a caller
        # of this property needs it.
        from datetime import UTC, datetime

        return None if self.expiry == 0 else datetime.fromtimestamp(self.expiry, UTC)

    def expired(self, now: float) -> bool:
        return self.expiry != 0 and self.expiry <= now


def _opt(value: str) -> str | None:
    return None if value == "*" else value


def _parse_line(line: str, server_duid: str | None) -> DhcpLease:
    fields = line.split(" ")
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, found {len(fields)}")
    expiry_s, second, ip_s, hostname, client = fields
    expiry = int(expiry_s)
    if expiry < 0:
        raise ValueError("negative expiry")
    ip = ipaddress.ip_address(ip_s)
    if ip.version == 6:
        temporary = second.startswith("T")
        iaid = int(second[1:] if temporary else second)
        return DhcpLease(expiry=expiry, protocol="ipv6", ip=ip, hostname=_opt(hostname),
                         client_id=_opt(client), iaid=iaid, temporary=temporary,
                         server_duid=server_duid)
    hardware_type = ETHERNET
    mac: str | None = second
    # Non-Ethernet (or empty) hardware addresses carry their type: "06-aa:bb", "00-".
    if len(second) >= 3 and second[2] == "-":
        hardware_type = int(second[:2], 16)
        mac = second[3:] or None
    return DhcpLease(expiry=expiry, protocol="ipv4", ip=ip, mac=_opt(mac) if mac else None,
                     hostname=_opt(hostname), client_id=_opt(client),
                     hardware_type=hardware_type)


def parse_leases(text: str, *, strict: bool = False) -> list[DhcpLease]:
    """All leases in a lease file's text. A malformed line is skipped with a warning, or
    raises ``InvalidArgument`` naming the line when ``strict``."""
    leases: list[DhcpLease] = []
    server_duid: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith("duid "):
                server_duid = line[5:].strip() or None
                continue
            leases.append(_parse_line(line, server_duid))
        except ValueError as exc:
            if strict:
                raise InvalidArgument(f"lease file line {number}: {exc}: {line!r}") from None
            log.warning("skipping malformed lease line %d (%s): %r", number, exc, line)
    return leases


def read_leases(path: Path, *, now: float | None = None) -> list[DhcpLease]:
    """Leases in a lease file (none when it does not exist), without the expired ones
    when ``now`` is given."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    leases = parse_leases(text)
    if now is not None:
        leases = [lease for lease in leases if not lease.expired(now)]
    return leases
