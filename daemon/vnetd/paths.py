"""Where vnetd keeps its files; every path derives from three directories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG_DIR = Path("/etc/vnetd")
DEFAULT_RUN_DIR = Path("/run/vnetd")
DEFAULT_STATE_DIR = Path("/var/lib/vnetd")
DEFAULT_RESOLV_CONF = Path("/etc/resolv.conf")  # the host's DNS servers (dnsmasq/upstream.py)


@dataclass(frozen=True)
class Paths:
    """Where vnetd keeps its files."""

    config_dir: Path = DEFAULT_CONFIG_DIR
    run_dir: Path = DEFAULT_RUN_DIR
    state_dir: Path = DEFAULT_STATE_DIR

    @property
    def networks_dir(self) -> Path:
        """Persistent definitions: ``NAME.xml``."""
        return self.config_dir / "networks"

    @property
    def autostart_dir(self) -> Path:
        """Autostart marks: ``NAME.xml`` symlinks to the definition."""
        return self.networks_dir / "autostart"

    @property
    def status_dir(self) -> Path:
        """Runtime status of running networks: ``NAME.json``."""
        return self.run_dir / "networks"

    @property
    def dnsmasq_dir(self) -> Path:
        """dnsmasq conf, hosts files, pid files and leases: ``NAME.conf`` …"""
        return self.state_dir / "dnsmasq"

    def dnsmasq_file(self, network: str, suffix: str) -> Path:
        return self.dnsmasq_dir / f"{network}.{suffix}"
