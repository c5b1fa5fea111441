"""Forwarding sysctls of the current network namespace, through /proc/sys.

/proc/sys/net resolves to the namespace of the process that opens it, so the daemon
(or a test under ``ip netns exec``) only ever changes its own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import Failed
from ..model import NetworkDefinition

PROC_SYS = Path("/proc/sys")
IPV4_FORWARD = "net/ipv4/ip_forward"
IPV6_FORWARD = "net/ipv6/conf/all/forwarding"


@dataclass(frozen=True)
class ForwardingNeeds:
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
    return [key for key in forwarding_needs(definition).sysctl_keys() if ensure_enabled(key, root)]


def forwarding_drift(definition: NetworkDefinition, root: Path = PROC_SYS) -> list[str]:
    """Keys ``definition`` needs that are not 1 any more (someone turned them off)."""
    return [key for key in forwarding_needs(definition).sysctl_keys() if read(key, root) != "1"]
