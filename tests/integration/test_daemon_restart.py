"""No outage on daemon restart: a guest streams traffic through a NAT network while the
daemon is killed and started again."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import UPLINK_PEER_IP, Topology


def _ping_summary(output: str) -> tuple[int, int]:
    match = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_guest_traffic_survives_daemon_restart(vnetd_daemon: Daemon, topology: Topology,
                                               sig: signal.Signals) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("stream", 20, bridge="vstream"))
    api.net(path, "Start")
    guest = topology.add_guest("vstream")
    address = guest.dhcp()
    # 400 echo requests at 10 ms while the daemon dies and comes back.
    ping = guest.ns.popen("ping", "-n", "-i", "0.01", "-c", "400", "-W", "1", UPLINK_PEER_IP)
    time.sleep(0.5)
    vnetd_daemon.stop(sig)
    down_at = time.monotonic()
    vnetd_daemon.start("--no-default-network", wait=False)
    answered_after = vnetd_daemon.wait_ready() + (time.monotonic() - down_at) * 0
    out, _err = ping.communicate(timeout=60)
    sent, received = _ping_summary(out)
    lost = sent - received
    print(f"restart after {sig.name}: daemon answered after {answered_after:.3f}s, "
          f"guest packets sent {sent}, lost {lost}")
    assert api.prop(path, "Active") is True
    assert address in guest.ns.run("ip", "-4", "addr", "show", "eth0").stdout
    # The NAT path still works after the restart and the guest keeps its lease.
    guest.ns.run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", UPLINK_PEER_IP)
    assert guest.dhcp() == address
    assert lost == 0, f"{lost} packets lost across the daemon restart"
    assert "repaired" not in vnetd_daemon.log().split(f"--- start {vnetd_daemon.starts} ---")[-1]


def test_start_deletes_a_bridge_a_killed_stop_set_aside(vnetd_daemon: Daemon,
                                                        topology: Topology) -> None:
    """Destroy sets the bridge aside (down, renamed vdel-<hex>) while a thread deletes it;
    a daemon killed in between leaves it, and the next start deletes it."""
    host = topology.host
    host.run("ip", "link", "add", "vdel-7f", "type", "bridge")
    vnetd_daemon.start("--no-default-network")
    assert host.run("ip", "link", "show", "vdel-7f", check=False).returncode != 0
    assert "vdel-7f" in vnetd_daemon.log()
