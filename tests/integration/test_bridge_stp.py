"""Edge-port STP (vnetd.bridge.stp) against a real kernel, inside fresh namespaces.

A bridge whose definition has STP on runs without kernel STP while its ports are all
guests' (veth, tap), so a guest port forwards at once; a port that is not a guest's
(here a macvlan on a veth: this kernel has no dummy, vlan or bond, and refuses a bridge
in a bridge) turns kernel STP on within milliseconds and itself goes through listening
and learning, as on a bridge that always ran STP.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.busapi import Api
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Namespace, Topology, add_macvlan_port

pytestmark = pytest.mark.integration

DEFAULT_SHAPED = ("<network><name>{name}</name><forward mode='nat'/>"
                  "<bridge name='{bridge}' stp='{stp}' delay='0'/>"
                  "<ip address='10.77.{net}.1' netmask='255.255.255.0'><dhcp>"
                  "<range start='10.77.{net}.100' end='10.77.{net}.200'/></dhcp></ip>"
                  "</network>")


def stp_state(ns: Namespace, bridge: str) -> int:
    data: list[dict[str, Any]] = ns.ip_json("-d", "link", "show", "dev", bridge)  # type: ignore[assignment]
    state: int = data[0]["linkinfo"]["info_data"]["stp_state"]
    return state


def port_states(ns: Namespace) -> dict[str, str]:
    ports = json.loads(ns.run("bridge", "-j", "link", "show").stdout)
    return {p["ifname"]: p["state"] for p in ports}


def until(check: Any, timeout: float = 5.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(0.005)
    raise AssertionError("condition not reached in time")


# -- through the daemon ---------------------------------------------------------------


def test_default_network_guest_forwards_at_once(vnetd_daemon: Daemon,
                                                topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(DEFAULT_SHAPED.format(name="edgy", bridge="vedge", stp="on", net=81))
    api.net(path, "Start")
    host = topology.host
    began = time.monotonic()
    guest = topology.add_guest("vedge")
    # Right away, no waiting: the guest's port forwards and the kernel runs no STP.
    assert port_states(host)[guest.host_port] == "forwarding"
    assert stp_state(host, "vedge") == 0
    address = guest.dhcp()
    took = time.monotonic() - began
    print(f"\ndefault-shaped network (stp on, delay 0): first lease {address} "
          f"{took:.3f}s after enslaving the guest's port")
    assert address.startswith("10.77.81.")
    # A tap is a guest port too.
    host.run("ip", "tuntap", "add", "mode", "tap", "name", "vtap0")
    host.run("ip", "link", "set", "vtap0", "master", "vedge")
    time.sleep(0.2)
    assert stp_state(host, "vedge") == 0
    # The user's intent is unchanged.
    assert "stp='on'" in api.xml(path)

    # A port that leads elsewhere: STP comes on within milliseconds, the new port goes
    # through listening, the guest keeps forwarding and keeps its connectivity.
    add_macvlan_port(host, "vedge")
    took = until(lambda: stp_state(host, "vedge") == 1)
    print(f"kernel STP on {took * 1000:.1f} ms after a macvlan port joined")
    states = port_states(host)
    assert states["mv0"] in ("listening", "learning"), states
    assert states[guest.host_port] == "forwarding"
    guest.ns.run("ping", "-n", "-c", "1", "-W", "2", "10.77.81.1")
    assert "stp='on'" in api.xml(path)
    # Restarting the network keeps STP while the macvlan is a port (ensure sees it).
    vnetd_daemon.stop()
    vnetd_daemon.start("--no-default-network")
    assert stp_state(host, "vedge") == 1
    assert port_states(host)[guest.host_port] == "forwarding"


def test_stp_off_network_never_gets_stp(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(DEFAULT_SHAPED.format(name="nostp", bridge="vnostp", stp="off", net=82))
    api.net(path, "Start")
    host = topology.host
    guest = topology.add_guest("vnostp")
    add_macvlan_port(host, "vnostp")
    assert guest.dhcp().startswith("10.77.82.")
    time.sleep(0.3)
    assert stp_state(host, "vnostp") == 0
    assert port_states(host)["mv0"] == "forwarding"


# -- the backend on its own (no watch(): its private guard listens) -------------------

DRIVER = r'''
import asyncio, json, subprocess, sys, time
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_LINK
from vnetd.bridge import NetlinkBridge
from vnetd.model import Bridge, IpConfig, NetworkDefinition

stp = sys.argv[1] == "on"
definition = NetworkDefinition(name="s", bridge=Bridge(name="vnstp", stp=stp, delay=0),
                               ips=(IpConfig(address="10.40.0.1", prefix=24),))

def sh(*argv):
    subprocess.run(argv, check=True)

def stp_state():
    out = subprocess.run(["ip", "-j", "-d", "link", "show", "vnstp"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)[0]["linkinfo"]["info_data"]["stp_state"]

async def main():
    backend = NetlinkBridge()
    report = {}
    await backend.ensure(definition)
    sh("ip", "link", "add", "g0", "type", "veth", "peer", "name", "g1")
    sh("ip", "link", "set", "g0", "master", "vnstp")
    sh("ip", "link", "set", "g0", "up")
    sh("ip", "link", "set", "g1", "up")
    await asyncio.sleep(0.1)
    report["edge_only"] = stp_state()
    sh("ip", "link", "add", "mvl", "type", "veth", "peer", "name", "mvp")
    sh("ip", "link", "set", "mvl", "up")
    sh("ip", "link", "set", "mvp", "up")
    sh("ip", "link", "add", "link", "mvl", "name", "mv0", "type", "macvlan")
    sh("ip", "link", "set", "mv0", "up")
    # Enslaved and watched over netlink here, so that the figure is the backend's time.
    async with AsyncIPRoute() as ipr, AsyncIPRoute() as events:
        await events.bind(groups=RTMGRP_LINK)
        bridge = (await ipr.link_lookup(ifname="vnstp"))[0]
        port = (await ipr.link_lookup(ifname="mv0"))[0]
        joined = time.monotonic()
        await ipr.link("set", index=port, master=bridge)

        async def stp_on():
            while True:
                async for msg in events.get():
                    if (msg.get("index") == bridge
                            and msg.get(("linkinfo", "data", "br_stp_state"))):
                        return

        try:
            await asyncio.wait_for(stp_on(), 1 if stp else 0.3)
            report["took"] = time.monotonic() - joined
        except TimeoutError:
            report["took"] = None
    report["after_join"] = stp_state()
    await backend.ensure(definition)
    report["after_ensure"] = stp_state()
    sh("ip", "link", "set", "mv0", "nomaster")
    await backend.ensure(definition)  # the last non-guest port left
    report["after_leave"] = stp_state()
    await backend.close()
    print(json.dumps(report))

asyncio.run(main())
'''


def run_driver(ns: Namespace, stp: str) -> dict[str, Any]:
    proc = ns.python(DRIVER, stp, env={"PYTHONWARNINGS": "error"})
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def test_backend_alone_turns_stp_on_when_a_non_guest_port_joins(host_ns: Namespace) -> None:
    report = run_driver(host_ns, "on")
    print(f"\nkernel STP on {report['took'] * 1000:.1f} ms after a macvlan port joined "
          "(private guard; as seen by a second event socket in the same process)")
    assert report["edge_only"] == 0
    assert report["after_join"] == 1
    assert report["after_ensure"] == 1  # never off while a non-guest port is there
    assert report["after_leave"] == 0


def test_backend_alone_stp_off_definition(host_ns: Namespace) -> None:
    report = run_driver(host_ns, "off")
    assert report == {"edge_only": 0, "took": None, "after_join": 0, "after_ensure": 0,
                      "after_leave": 0}


def test_second_ensure_with_guest_ports_changes_nothing(host_ns: Namespace) -> None:
    code = r'''
import asyncio, sys
from vnetd.bridge import NetlinkBridge
from vnetd.model import Bridge, IpConfig, NetworkDefinition
definition = NetworkDefinition(name="s", bridge=Bridge(name="vnstp", stp=True, delay=0),
                               ips=(IpConfig(address="10.40.0.1", prefix=24),))
async def main():
    backend = NetlinkBridge()
    await backend.ensure(definition)
    await backend.close()
asyncio.run(main())
'''
    host_ns.python(code)
    host_ns.run("ip", "link", "add", "g0", "type", "veth", "peer", "name", "g1")
    host_ns.run("ip", "link", "set", "g0", "master", "vnstp")
    for end in ("g0", "g1"):  # no link-local address: its DAD would show in the monitor
        host_ns.run("ip", "link", "set", end, "addrgenmode", "none")
        host_ns.run("ip", "link", "set", end, "up")
    host_ns.run("ip", "tuntap", "add", "mode", "tap", "name", "t0")
    host_ns.run("ip", "link", "set", "t0", "master", "vnstp")
    time.sleep(0.1)
    monitor = host_ns.popen("ip", "monitor", "link", "address", "route")
    time.sleep(0.3)
    host_ns.python(code)
    host_ns.python(code)
    time.sleep(0.3)
    monitor.terminate()
    events, _ = monitor.communicate(timeout=5)
    assert events == "", f"ensure changed the kernel state:\n{events}"
    assert stp_state(host_ns, "vnstp") == 0
    assert port_states(host_ns)["g0"] == "forwarding"
