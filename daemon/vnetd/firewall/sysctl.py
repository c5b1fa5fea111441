"""Forwarding sysctls of the current network namespace, through /proc/sys.

/proc/sys/net resolves to the namespace of the process that opens it, so the daemon
(or a test under ``ip netns exec``) only ever changes its own namespace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import Failed
from ..model import NetworkDefinition

log = logging.getLogger(__name__)

PROC_SYS = Path("/proc/sys")
IPV4_FORWARD = "net/ipv4/ip_forward"
IPV6_FORWARD = "net/ipv6/conf/all/forwarding"
# Per-namespace like /proc/sys (/proc/net is /proc/self/net); flags in column 9, device
# in column 10.
IPV6_ROUTES = "net/ipv6_route"
RTF_ADDRCONF = 0x00040000  # the kernel learned the route from a router advertisement


@dataclass(frozen=True)
class ForwardingNeeds:
    """Which IP forwarding sysctls the running networks need on."""

    ipv4: bool
    ipv6: bool

    def sysctl_keys(self) -> list[str]:
        return [key for key, wanted in ((IPV4_FORWARD, self.ipv4), (IPV6_FORWARD, self.ipv6))
                if wanted]


def forwarding_needs(definition: NetworkDefinition) -> ForwardingNeeds:
    """As libvirt: forwarding modes (nat, route, open) turn on forwarding for each
    family the network has addresses of; an isolated network needs none."""
    if definition.mode not in ("nat", "route", "open"):
        return ForwardingNeeds(False, False)
    return ForwardingNeeds(bool(definition.ips_of(4)), bool(definition.ips_of(6)))


def read(key: str, root: Path = PROC_SYS) -> str | None:
    """The value of ``key`` (e.g. ``net/ipv4/ip_forward``), None when it does not exist
    (IPv6 disabled)."""
    try:
        return (root / key).read_text().strip()
    except FileNotFoundError:
        return None


def ensure_enabled(key: str, root: Path = PROC_SYS) -> bool:
    """Set ``key`` to 1 unless it already is; True when it was written."""
    current = read(key, root)
    if current is None:
        raise Failed(f"sysctl {key.replace('/', '.')} does not exist in this namespace")
    if current == "1":
        return False
    try:
        (root / key).write_text("1\n")
    except OSError as exc:
        raise Failed(f"cannot enable {key.replace('/', '.')}: {exc.strerror}") from exc
    return True


def enable_forwarding(definition: NetworkDefinition, root: Path = PROC_SYS) -> list[str]:
    """Turn on what ``definition`` needs; return the keys that were written."""
    if forwarding_needs(definition).ipv6:
        keep_ra_routes(root)
    return [key for key in forwarding_needs(definition).sysctl_keys() if ensure_enabled(key, root)]


def ra_route_interfaces(routes_file: Path) -> set[str]:
    """Interfaces holding routes the kernel learned from router advertisements."""
    try:
        lines = routes_file.read_text().splitlines()
    except OSError:
        return set()
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) == 10 and int(fields[8], 16) & RTF_ADDRCONF:
            found.add(fields[9])
    return found


def keep_ra_routes(root: Path = PROC_SYS, routes_file: Path | None = None) -> list[str]:
    """Before IPv6 forwarding goes on: set accept_ra=2 where routes came from RAs.

    With forwarding on, the kernel ignores router advertisements on an interface whose
    accept_ra is 1, so the default route it learned from them expires (after the router
    lifetime, typically 30 min) and the host silently loses IPv6 connectivity. libvirt
    refuses to start such a network and asks the admin to set accept_ra=2. vnetd makes
    that change itself and says so: 2 means "accept RAs even when forwarding", which is
    exactly what the interface does today, so it keeps the host as the admin set it up,
    while refusing would break every IPv6 network over a setting the admin meant anyway.
    Interfaces with accept_ra 0 (RAs ignored, or handled by a userspace daemon such as
    systemd-networkd) or 2 are left alone. Returns the keys written."""
    if routes_file is None:
        routes_file = root.parent / IPV6_ROUTES
    written = []
    for dev in sorted(ra_route_interfaces(routes_file)):
        key = f"net/ipv6/conf/{dev}/accept_ra"
        if read(key, root) != "1":
            continue
        dotted = key.replace("/", ".")
        try:
            (root / key).write_text("2\n")
        except OSError as exc:
            log.warning("interface %s has routes from router advertisements and %s=1: IPv6 "
                        "forwarding will make the kernel ignore its RAs and those routes "
                        "will expire; setting it to 2 failed (%s): set it by hand",
                        dev, dotted, exc.strerror)
            continue
        log.warning("interface %s has routes from router advertisements: set %s=2 (was 1) "
                    "so that they survive IPv6 forwarding", dev, dotted)
        written.append(key)
    return written


def forwarding_drift(definition: NetworkDefinition, root: Path = PROC_SYS) -> list[str]:
    """Keys ``definition`` needs that are not 1 any more (someone turned them off)."""
    return [key for key in forwarding_needs(definition).sysctl_keys() if read(key, root) != "1"]
