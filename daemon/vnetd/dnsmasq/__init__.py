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

__all__ = [
    "DAEMON_SECTION_MARKER",
    "FULL_CAPS",
    "RESTRICTED_CAPS",
    "DaemonSettings",
    "DnsmasqCaps",
    "DnsmasqFiles",
    "render_addnhosts",
    "render_config",
    "render_hostsfile",
]
