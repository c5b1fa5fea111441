"""dnsmasq backend: pure config rendering, lease-file parsing and process supervision."""

from __future__ import annotations

from .config import (
    DAEMON_SECTION_MARKER,
    FULL_CAPS,
    RESTRICTED_CAPS,
    DaemonSettings,
    DnsmasqCaps,
    DnsmasqFiles,
    render_addnhosts,
    render_config,
    render_hostsfile,
)
from .leases import DhcpLease, parse_leases, read_leases
from .supervisor import DnsmasqStartError, DnsmasqSupervisor, RestartPolicy

__all__ = [
    "DAEMON_SECTION_MARKER",
    "FULL_CAPS",
    "RESTRICTED_CAPS",
    "DaemonSettings",
    "DhcpLease",
    "DnsmasqCaps",
    "DnsmasqFiles",
    "DnsmasqStartError",
    "DnsmasqSupervisor",
    "RestartPolicy",
    "parse_leases",
    "read_leases",
    "render_addnhosts",
    "render_config",
    "render_hostsfile",
]
