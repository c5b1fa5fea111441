"""Checked formatting of single values that go into dnsmasq files.

Every string that reaches a dnsmasq conf, hostsfile or addnhosts line passes through
here. Validation of the definition should already have refused bad values; these
checks are the second line of defence: a value must never be able to start a new
config line (newline, CR, NUL) nor add a field to a comma-separated option.
"""

from __future__ import annotations

import ipaddress

from ..errors import InvalidArgument
from ..model import IPAddress, Lease

_LINE_BREAKERS = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}


def text(value: str, what: str) -> str:
    """A value that ends up on one config line (anywhere)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what}: expected text, got {type(value).__name__}")
    for char, name in _LINE_BREAKERS.items():
        if char in value:
            raise InvalidArgument(f"{what}: {value!r} contains {name}")
    # No other control character has a business in a config line either.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument(f"{what}: {value!r} contains a control character")
    return value


def field(value: str, what: str) -> str:
    """A value inside a comma-separated option: no line breaks and no comma."""
    text(value, what)
    if "," in value:
        raise InvalidArgument(f"{what}: {value!r} contains a comma, which would split the "
                              "dnsmasq option into another field")
    return value


def word(value: str, what: str) -> str:
    """A value in a whitespace-separated file (addn-hosts): no comma, space or comment."""
    field(value, what)
    if not value or any(c.isspace() for c in value) or "#" in value:
        raise InvalidArgument(f"{what}: {value!r} must be one word without '#'")
    return value


def path(value: str, what: str) -> str:
    """A file path: dnsmasq's conf reader removes '"' (quoting) and cuts at " #"."""
    text(value, what)
    if '"' in value or " #" in value or value != value.strip():
        raise InvalidArgument(f"{what}: {value!r} cannot be written in a dnsmasq conf "
                              "(a '\"' quotes, ' #' starts a comment, edge spaces are dropped)")
    return value


def address(value: str, what: str) -> IPAddress:
    """An IP address; formatted canonically like libvirt's virSocketAddrFormat."""
    text(value, what)
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidArgument(f"{what}: {value!r} is not an IP address") from None


def lease_time(lease: Lease | None) -> str | None:
    """libvirt's networkBuildDnsmasqLeaseTime: ``infinite`` or the number with the unit's
    first letter (the unit defaults to minutes)."""
    if lease is None:
        return None
    if lease.expiry == 0:
        return "infinite"
    if lease.expiry < 0:
        raise InvalidArgument(f"lease expiry {lease.expiry}: must not be negative")
    return f"{int(lease.expiry)}{(lease.unit or 'minutes')[0]}"


def ptr_domain(ip: IPAddress, prefix: int) -> str:
    """The reverse-lookup zone of a subnet (libvirt's virSocketAddrPTRDomain)."""
    if ip.version == 4:
        if prefix % 8 or not 0 < prefix <= 32:
            raise InvalidArgument(f"ip {ip}/{prefix} localPtr: PTR domain for IPv4 network "
                                  f"with prefix {prefix} cannot be automatically created")
        octets = str(ip).split(".")[: prefix // 8]
        return ".".join(reversed(octets)) + ".in-addr.arpa"
    if prefix % 4 or not 0 < prefix <= 128:
        raise InvalidArgument(f"ip {ip}/{prefix} localPtr: PTR domain for IPv6 network "
                              f"with prefix {prefix} cannot be automatically created")
    nibbles = ip.exploded.replace(":", "")[: prefix // 4]
    return ".".join(reversed(nibbles)) + ".ip6.arpa"
