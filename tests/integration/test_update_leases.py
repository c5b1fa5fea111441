"""Live updates on a running network, leases on the bus, waiting for a guest's address."""

from __future__ import annotations

import subprocess
import threading
import time

from tests.integration.busapi import NET_IFACE, Api, SignalRecorder, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology

ADD_LAST, DELETE, MODIFY = 3, 2, 1
IP_DHCP_HOST, DNS_HOST = 4, 10
LIVE, CONFIG = 1, 2


def _dnsmasq_pid(daemon: Daemon, name: str) -> int:
    return int((daemon.state_dir / "dnsmasq" / f"{name}.pid").read_text().split()[0])


def test_live_host_updates_keep_dnsmasq_and_leases(vnetd_daemon: Daemon,
                                                   topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("upd", 50, bridge="vupd"))
    api.net(path, "Start")
    pid = _dnsmasq_pid(vnetd_daemon, "upd")
    guest = topology.add_guest("vupd", mac="52:54:00:50:00:01")
    first = guest.dhcp()
    host_xml = "<host mac='52:54:00:50:00:02' name='fixed' ip='10.77.50.42'/>"
    api.net(path, "Update", "uuisu", str(ADD_LAST), str(IP_DHCP_HOST), "-1", host_xml,
            str(LIVE | CONFIG))
    assert _dnsmasq_pid(vnetd_daemon, "upd") == pid, "dnsmasq was restarted for a host change"
    assert "10.77.50.42" in api.xml(path, 0) and "10.77.50.42" in api.xml(path, 1)
    assert "10.77.50.42" in (vnetd_daemon.config_dir / "networks" / "upd.xml").read_text()
    reserved = topology.add_guest("vupd", mac="52:54:00:50:00:02")
    assert reserved.dhcp() == "10.77.50.42"
    # DNS host entries reload the same way.
    api.net(path, "Update", "uuisu", str(ADD_LAST), str(DNS_HOST), "-1",
            "<host ip='10.77.50.7'><hostname>printer</hostname></host>", "0")
    dig = topology.host.run("dig", "+short", "+time=2", "@10.77.50.1", "printer").stdout
    assert dig.strip() == "10.77.50.7"
    assert _dnsmasq_pid(vnetd_daemon, "upd") == pid
    # Deleting the reservation removes it from the live and persistent definitions.
    api.net(path, "Update", "uuisu", str(DELETE), str(IP_DHCP_HOST), "-1", host_xml,
            str(LIVE | CONFIG))
    assert "10.77.50.42" not in api.xml(path, 0) + api.xml(path, 1)
    # The first guest kept its lease through all of it.
    assert guest.dhcp() == first
    # A refused update changes nothing.
    proc = vnetd_daemon.busctl("call", "org.vnetd1", path, NET_IFACE, "Update", "uuisu",
                               str(ADD_LAST), str(IP_DHCP_HOST), "-1",
                               "<host mac='52:54:00:50:00:09' ip='10.99.0.5'/>", "1",
                               check=False)
    assert proc.returncode != 0 and "10.99.0.5" not in api.xml(path)
    assert _dnsmasq_pid(vnetd_daemon, "upd") == pid


def test_leases_listed_signalled_and_awaited(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("lease", 51, bridge="vlease"))
    api.net(path, "Start")
    mac = "52:54:00:51:00:01"
    guest = topology.add_guest("vlease", mac=mac)
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    waited: dict[str, object] = {}

    def wait() -> None:
        began = time.monotonic()
        proc = vnetd_daemon.busctl("--json=short", "call", "org.vnetd1", path, NET_IFACE,
                                   "WaitForLease", "su", mac, "20000", check=False)
        waited["elapsed"] = time.monotonic() - began
        waited["proc"] = proc

    waiter = threading.Thread(target=wait)
    try:
        waiter.start()
        time.sleep(0.3)
        address = guest.dhcp()
        got_at = time.monotonic()
        waiter.join(30)
        proc = waited["proc"]
        assert isinstance(proc, subprocess.CompletedProcess) and proc.returncode == 0, proc
        assert address in proc.stdout
        print(f"WaitForLease returned {time.monotonic() - got_at:.3f}s after the client "
              "finished")
        leases = api.net(path, "GetDHCPLeases", "su", "", "0")
        assert len(leases) == 1
        iface, expiry, kind, lmac, _iaid, ip, prefix, _host, _cid = leases[0]
        assert (iface, kind, lmac, ip, prefix) == ("vlease", 0, mac, address, 24)
        assert expiry > time.time()
        assert api.net(path, "GetDHCPLeases", "su", "00:11:22:33:44:55", "0") == []
        recorder.wait_for(lambda s: any(x[2] == "LeaseChanged" and x[3][0] == "added"
                                        for x in s))
    finally:
        recorder.stop()
    # A wait is bounded: an hour at most.
    proc = vnetd_daemon.busctl("call", "org.vnetd1", path, NET_IFACE, "WaitForLease", "su",
                               mac, str(3601 * 1000), check=False)
    assert proc.returncode != 0 and "timeout must be between" in proc.stderr
    # Leases survive a daemon restart.
    vnetd_daemon.stop()
    vnetd_daemon.start("--no-default-network")
    leases = api.net(path, "GetDHCPLeases", "su", mac, "0")
    assert [lease[5] for lease in leases] == [address]
