"""libvirt's lifecycle semantics, on a real daemon: pending definitions, transient networks,
autostart across daemon restarts, and the default network of a fresh install."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.integration.busapi import MANAGER, MGR_IFACE, Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology


def test_define_on_running_network_is_pending_until_restart(vnetd_daemon: Daemon,
                                                            topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("pend", 10, bridge="vpend"))
    api.net(path, "Start")
    api.define(network_xml("pend", 10, bridge="vpend", mode="route"))
    assert "mode='nat'" in api.xml(path, 0)
    assert "mode='route'" in api.xml(path, 1)
    assert api.prop(path, "ForwardMode") == "nat"
    api.net(path, "Destroy")
    assert "mode='route'" in api.xml(path, 0)
    api.net(path, "Start")
    assert api.prop(path, "ForwardMode") == "route"


def test_transient_network_disappears_when_destroyed(vnetd_daemon: Daemon,
                                                     topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.create(network_xml("tmp", 11, bridge="vtmp"))
    assert api.prop(path, "Active") is True and api.prop(path, "Persistent") is False
    assert not (vnetd_daemon.config_dir / "networks" / "tmp.xml").exists()
    err = api.daemon.busctl("set-property", "org.vnetd1", path, "org.vnetd1.Network",
                            "Autostart", "b", "true", check=False)
    assert err.returncode != 0 and "transient" in err.stderr
    api.net(path, "Destroy")
    assert "no network with matching name" in api.error(MANAGER, MGR_IFACE, "LookupByName",
                                                         "s", "tmp")
    assert topology.host.run("ip", "link", "show", "vtmp", check=False).returncode != 0


def test_undefine_running_persistent_network_makes_it_transient(vnetd_daemon: Daemon) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("und", 12))
    api.net(path, "Start")
    api.net(path, "Undefine")
    assert api.prop(path, "Persistent") is False and api.prop(path, "Active") is True
    assert not (vnetd_daemon.config_dir / "networks" / "und.xml").exists()
    api.net(path, "Destroy")
    assert api.list() == []


def test_running_networks_survive_daemon_stop_and_autostart_applies(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    running = api.define(network_xml("keep", 13, bridge="vkeep"))
    api.net(running, "Start")
    auto = api.define(network_xml("auto", 14, bridge="vauto"))
    api.set_prop(auto, "Autostart", "b", "true")
    assert (vnetd_daemon.config_dir / "networks" / "autostart" / "auto.xml").is_symlink()
    transient = api.create(network_xml("trans", 15, bridge="vtrans"))
    pidfiles = [vnetd_daemon.state_dir / "dnsmasq" / f"{n}.pid" for n in ("keep", "trans")]
    dnsmasq_before = [p.read_text().split()[0] for p in pidfiles]
    assert vnetd_daemon.stop() == 0
    # The daemon is gone; its networks are not.
    assert topology.host.run("ip", "link", "show", "vkeep").returncode == 0
    assert topology.host.run("ip", "link", "show", "vtrans").returncode == 0
    for pid in dnsmasq_before:
        assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"dnsmasq") or \
            b"dnsmasq" in Path(f"/proc/{pid}/cmdline").read_bytes()
    vnetd_daemon.start("--no-default-network")
    assert api.prop(running, "Active") is True
    assert api.prop(auto, "Active") is True and api.prop(auto, "Autostart") is True
    assert api.prop(transient, "Active") is True and api.prop(transient, "Persistent") is False
    assert [p.read_text().split()[0] for p in pidfiles] == dnsmasq_before, \
        "dnsmasq was restarted instead of adopted"
    for pid in dnsmasq_before:
        assert Path(f"/proc/{pid}").exists(), "the adopted dnsmasq is gone"


def test_a_call_in_flight_when_the_daemon_stops_finishes_and_answers(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    """SIGTERM while a start is in flight: the start completes and answers, the daemon
    then exits cleanly, and the network is found running by the next daemon."""
    hold = {"VNETD_TEST_HOOKS": "1", "VNETD_TEST_HOLD_AT": "start-done",
            "VNETD_TEST_HOLD_SECONDS": "1.5"}
    vnetd_daemon.start("--no-default-network", env=hold)
    api = Api(vnetd_daemon)
    path = api.define(network_xml("held", 16, bridge="vheld"))
    call = subprocess.Popen(
        ["busctl", f"--address={vnetd_daemon.bus.address}", "call", "--", "org.vnetd1", path,
         "org.vnetd1.Network", "Start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 10
        while "test hook: holding at start-done" not in vnetd_daemon.log():
            assert time.monotonic() < deadline, vnetd_daemon.log()[-3000:]
            time.sleep(0.02)
        assert call.poll() is None, "the start did not wait at its held step"
        began = time.monotonic()
        assert vnetd_daemon.stop() == 0, vnetd_daemon.log()[-3000:]
        waited = time.monotonic() - began
        _out, err = call.communicate(timeout=10)
    finally:
        if call.poll() is None:
            call.kill()
            call.wait()
    assert call.returncode == 0, f"the call in flight failed: {err}"
    assert waited > 0.5, f"the daemon exited {waited:.2f} s after SIGTERM: it did not wait"
    assert topology.host.run("ip", "link", "show", "vheld").returncode == 0
    vnetd_daemon.start("--no-default-network")
    assert api.prop(path, "Active") is True


def test_default_network_on_fresh_install(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start()
    api = Api(vnetd_daemon)
    path = api.lookup("default")
    assert api.prop(path, "Active") is True and api.prop(path, "Autostart") is True
    assert api.prop(path, "BridgeName") == "virbr0"
    addrs = topology.host.ip_json("addr", "show", "virbr0")
    assert isinstance(addrs, list)
    assert any(a.get("local") == "192.168.122.1" and a.get("prefixlen") == 24
               for a in addrs[0]["addr_info"])
    xml = api.xml(path)
    assert "<range start='192.168.122.2' end='192.168.122.254'/>" in xml
    guest = topology.add_guest("virbr0")
    began = time.monotonic()
    address = guest.dhcp()
    print(f"default network: first lease {address} after {time.monotonic() - began:.3f}s")
    assert address.startswith("192.168.122.")
    # An admin who removed the default network keeps it removed across restarts.
    api.net(path, "Destroy")
    api.net(path, "Undefine")
    vnetd_daemon.stop()
    vnetd_daemon.start()
    assert api.list() == []


def _children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "comm="], capture_output=True,
                         text=True, check=False).stdout
    return sorted(out.split())


def test_no_helper_process_until_a_network_runs(vnetd_daemon: Daemon,
                                                topology: Topology) -> None:
    """The drift watches (an ``nft monitor`` child, a netlink socket) start with the
    first running network, not before; nor does any worker thread (the start-up's
    nftables listing ends with the start-up)."""
    vnetd_daemon.start("--no-default-network")
    assert vnetd_daemon.process is not None
    pid = vnetd_daemon.process.pid
    api = Api(vnetd_daemon)
    path = api.define(network_xml("idle", 12, bridge="vidle"))
    time.sleep(1)  # the daemon has long answered; nothing more is coming
    assert _children(pid) == []
    assert len(os.listdir(f"/proc/{pid}/task")) == 1, "an idle daemon runs worker threads"
    api.net(path, "Start")
    deadline = time.monotonic() + 10
    while "nft" not in _children(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children(pid) == ["dnsmasq", "nft"]
