"""The test bed both daemons get: network specs, a guest that asks for leases, pings.

Each side runs in its own fake host namespace with an uplink (``tests.integration.netns``);
a guest namespace plugs into a bridge through a veth pair made *before* the timed window,
so only enslaving the port and the DHCP exchange are inside it.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.netns import UPLINK_PEER_IP, Namespace, create_namespace

SUBNET_BASE = "10.213"

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc hook: take the leased address and the default route, nothing else.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "LEASE $ip" ;;
  deconfig) ip addr flush dev "$interface" 2>/dev/null ;;
esac
exit 0
"""


@dataclass(frozen=True)
class NetSpec:
    """Network *index*: libvirt's default-network shape on bridge lvbN, 10.213.N.0/24."""

    index: int

    @property
    def name(self) -> str:
        return f"bench-{self.index}"

    @property
    def bridge(self) -> str:
        return f"lvb{self.index}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{SUBNET_BASE}.{self.index}.0/24")

    def xml(self) -> str:
        hosts = list(self.subnet.hosts())
        # Exactly libvirt's default.xml apart from names and addresses: STP on, delay 0,
        # no dnsmasq options, so both daemons get the same request.
        return (f"<network>\n  <name>{self.name}</name>\n  <forward mode='nat'/>\n"
                f"  <bridge name='{self.bridge}' stp='on' delay='0'/>\n"
                f"  <ip address='{hosts[0]}' netmask='{self.subnet.netmask}'>\n"
                f"    <dhcp>\n      <range start='{hosts[1]}' end='{hosts[-1]}'/>\n"
                f"    </dhcp>\n  </ip>\n</network>\n")

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.xml"
        if not path.exists():
            path.write_text(self.xml())
        return path


class GuestPort:
    """A veth pair: ``host_end`` in the host namespace, ``guest_end`` in the guest's."""

    _seq = 0

    def __init__(self, host: Namespace, guest: Namespace) -> None:
        GuestPort._seq += 1
        self.host, self.guest = host, guest
        self.host_end = f"bh{GuestPort._seq}"
        self.guest_end = f"bg{GuestPort._seq}"
        host.run("ip", "link", "add", self.host_end, "type", "veth", "peer", "name",
                 self.guest_end, "netns", guest.name)
        guest.run("ip", "link", "set", self.guest_end, "up")

    def plug(self, bridge: str) -> None:
        self.host.run("ip", "link", "set", self.host_end, "master", bridge, "up")

    def lease(self, script: Path, timeout: float = 60) -> str | None:
        """Run busybox udhcpc (retry every 1 s, 15 tries); the address, or None."""
        proc = self.guest.run("busybox", "udhcpc", "-f", "-q", "-n", "-T", "1", "-t", "15",
                              "-i", self.guest_end, "-s", str(script), check=False,
                              timeout=timeout)
        for line in proc.stdout.splitlines():
            if line.startswith("LEASE "):
                return line.split()[1]
        return None

    def remove(self) -> None:
        self.host.run("ip", "link", "del", self.host_end, check=False)


def write_udhcpc_script(directory: Path) -> Path:
    path = directory / "udhcpc.sh"
    path.write_text(UDHCPC_SCRIPT)
    path.chmod(0o755)
    return path


def make_guest_ns() -> Namespace:
    return create_namespace("bguest")


class PingStream:
    """``ping -i 0.01`` from the guest to the uplink, through the network's NAT."""

    def __init__(self, guest: Namespace) -> None:
        self.proc = guest.popen("ping", "-n", "-i", "0.01", "-W", "1", UPLINK_PEER_IP,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def stop(self) -> tuple[int, int]:
        """Stop it (SIGINT, so ping prints its summary); (sent, received)."""
        # Give in-flight replies their 1 s to come back before counting them lost.
        time.sleep(1.0)
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        match = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
        if not match:
            raise RuntimeError(f"no ping summary in: {out[-300:]}")
        return int(match.group(1)), int(match.group(2))
