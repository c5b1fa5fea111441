"""Adoption at daemon start against a real kernel, inside a fresh namespace:
``vnetd.bridge.rtdump`` reads what ``ip`` reads, and ``vnetd.bridge.survey`` calls a
bridge intact exactly when ``NetlinkBridge.ensure`` would leave it as it is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.netns import Namespace

pytestmark = pytest.mark.integration

DRIVER = r'''
import asyncio, dataclasses, json, sys
from vnetd.bridge import rtdump  # not NetlinkBridge: "lazy" checks pyroute2 is not loaded
from vnetd.bridge.survey import survey
from vnetd.model import Bridge, IpConfig, NetworkDefinition

V4 = lambda n: IpConfig(address=f"10.88.{n}.1", prefix=24)
V6 = lambda n: IpConfig(address=f"fd00:88:{n}::1", family="ipv6", prefix=64)
DEFS = [
    NetworkDefinition(name="a", bridge=Bridge(name="vsa"), ips=(V4(1),)),
    NetworkDefinition(name="b", bridge=Bridge(name="vsb", stp=False, delay=2), mtu=1400,
                      mac="52:54:00:00:00:0b", ips=(V4(2), V6(2))),
    NetworkDefinition(name="c", bridge=Bridge(name="vsc", stp=True, delay=5),
                      ips=(V4(3), V6(3))),
]

async def main():
    op = sys.argv[1]
    if op != "lazy":
        from vnetd.bridge import NetlinkBridge
        backend = NetlinkBridge()
    if op == "ensure":
        value = [await backend.ensure(d) for d in DEFS]
    elif op == "survey":
        value = {name: dataclasses.asdict(item) for name, item in survey(DEFS).intact.items()}
    elif op == "dump":
        value = {"links": [dataclasses.asdict(link) for link in rtdump.links()],
                 "addresses": sorted([a.index, str(a.interface)] for a in rtdump.addresses())}
    elif op == "lazy":  # the daemon's LazyBridge: adoption without pyroute2, then handover
        from vnetd.daemon import LazyBridge
        lazy = LazyBridge()
        found = await lazy.adopt_many(DEFS)
        before = sorted(m for m in sys.modules if m.startswith("pyroute2"))
        first, second = await asyncio.gather(lazy._get(), lazy._get())
        value = {"intact": found.intact, "pyroute2_before": before, "same": first is second,
                 "managed": first._managed, "pending": sorted(first._stp.pending),
                 "state": dataclasses.asdict(await lazy.inspect("vsa"))}
        await lazy.close()
    elif op == "adopt":
        found = await backend.adopt_many(DEFS)
        value = {"intact": found.intact, "managed": backend._managed,
                 "pending": sorted(backend._stp.pending),
                 "interfaces": "vsa" in found.interfaces}
    if op != "lazy":
        await backend.close()
    print(json.dumps(value))

asyncio.run(main())
'''

PORT_STATES = {"disabled": 0, "listening": 1, "learning": 2, "forwarding": 3, "blocking": 4}


def drive(ns: Namespace, op: str) -> Any:
    proc = ns.python(DRIVER, op, env={"PYTHONWARNINGS": "error"})
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _no_timers(value: Any) -> Any:
    """A bridge's running timers (gc_timer, hello_timer...) change by themselves."""
    if isinstance(value, dict):
        return {k: _no_timers(v) for k, v in value.items() if not k.endswith("_timer")}
    if isinstance(value, list):
        return [_no_timers(v) for v in value]
    return value


def kernel_view(ns: Namespace) -> str:
    """Everything ensure could change: links (with bridge and port details), addresses,
    the bridges' IPv6 sysctls."""
    links = json.dumps(_no_timers(json.loads(ns.run("ip", "-d", "-j", "link", "show").stdout)))
    addrs = json.dumps(_no_timers(json.loads(ns.run("ip", "-j", "addr", "show").stdout)))
    sysctls = ns.run("sh", "-c", "grep -H . /proc/sys/net/ipv6/conf/vs*/disable_ipv6 "
                     "/proc/sys/net/ipv6/conf/vs*/accept_ra /proc/sys/net/ipv6/conf/vs*/autoconf "
                     "/proc/sys/net/ipv6/conf/vs*/accept_dad "
                     "/proc/sys/net/ipv6/conf/vs*/addr_gen_mode").stdout
    return links + addrs + sysctls


def test_dump_matches_ip(host_ns: Namespace) -> None:
    drive(host_ns, "ensure")
    host_ns.run("ip", "link", "add", "vsport0", "type", "veth", "peer", "name", "vsport1")
    host_ns.run("ip", "link", "set", "vsport0", "master", "vsc", "up")
    dumped = drive(host_ns, "dump")
    ip_links = {link["ifindex"]: link for link in
                json.loads(host_ns.run("ip", "-d", "-j", "link", "show").stdout)}
    names = {index: link["ifname"] for index, link in ip_links.items()}
    assert sorted(link["index"] for link in dumped["links"]) == sorted(ip_links)
    for link in dumped["links"]:
        ip = ip_links[link["index"]]
        info = ip.get("linkinfo", {})
        assert link["name"] == ip["ifname"]
        assert link["mtu"] == ip["mtu"]
        assert link["mac"] == (ip.get("address") if ip.get("link_type") == "ether" else
                               link["mac"])
        assert link["kind"] == info.get("info_kind")
        assert (names[link["master"]] if link["master"] else None) == ip.get("master")
        assert bool(link["flags"] & 1) == ("UP" in ip["flags"])
        if link["kind"] == "bridge":
            assert link["stp_state"] == info["info_data"]["stp_state"]
            assert link["forward_delay"] == info["info_data"]["forward_delay"]
        if ip.get("master"):
            assert link["port_state"] == PORT_STATES[info["info_slave_data"]["state"]]
    ip_addrs = sorted([a["ifindex"], f"{i['local']}/{i['prefixlen']}"] for a in
                      json.loads(host_ns.run("ip", "-j", "addr", "show").stdout)
                      for i in a["addr_info"])
    assert dumped["addresses"] == ip_addrs


def test_intact_exactly_when_ensure_changes_nothing(host_ns: Namespace) -> None:
    indexes = drive(host_ns, "ensure")
    found = drive(host_ns, "survey")
    assert sorted(found) == ["a", "b", "c"]
    assert [found[n]["index"] for n in "abc"] == indexes
    # STP asked for and only guest ports (none yet): watched for a port joining.
    assert found["c"]["stp_pending"] is not None and found["b"]["stp_pending"] is None
    before = kernel_view(host_ns)
    drive(host_ns, "ensure")
    assert kernel_view(host_ns) == before, "ensure changed a bridge survey called intact"

    # Broken behind the backend's back: each is left to ensure, which repairs it.
    host_ns.run("ip", "addr", "del", "10.88.1.1/24", "dev", "vsa")
    host_ns.run("ip", "link", "set", "vsb", "down")
    # A macvlan is not a guest's port (kernel without the dummy driver here).
    host_ns.run("ip", "link", "add", "vsl", "type", "veth", "peer", "name", "vsp")
    host_ns.run("ip", "link", "add", "link", "vsl", "name", "vsnic", "type", "macvlan")
    host_ns.run("ip", "link", "set", "vsnic", "master", "vsc", "up")
    assert drive(host_ns, "survey") == {}
    before = kernel_view(host_ns)
    drive(host_ns, "ensure")
    assert kernel_view(host_ns) != before
    found = drive(host_ns, "survey")
    assert sorted(found) == ["a", "b", "c"]
    assert found["c"]["stp_pending"] is None  # STP runs now: a NIC is a port

    host_ns.run("sysctl", "-qw", "net.ipv6.conf.vsa.accept_ra=1")
    host_ns.run("ip", "link", "set", "vsb", "mtu", "1500")
    assert sorted(drive(host_ns, "survey")) == ["c"]
    drive(host_ns, "ensure")
    assert sorted(drive(host_ns, "survey")) == ["a", "b", "c"]

    # b has a MAC and IPv6: vnetd's own link-local address, and none from the kernel.
    link_local = "fe80::5054:ff:fe00:b/64"
    assert link_local in host_ns.run("ip", "-6", "addr", "show", "dev", "vsb").stdout
    host_ns.run("ip", "addr", "del", link_local, "dev", "vsb")
    assert sorted(drive(host_ns, "survey")) == ["a", "c"]
    host_ns.run("sysctl", "-qw", "net.ipv6.conf.vsb.addr_gen_mode=0")
    drive(host_ns, "ensure")
    assert sorted(drive(host_ns, "survey")) == ["a", "b", "c"]
    assert host_ns.run("sysctl", "-n", "net.ipv6.conf.vsb.addr_gen_mode").stdout.strip() == "1"


def test_adopt_many_takes_bridges_over_as_ensure_does(host_ns: Namespace) -> None:
    indexes = drive(host_ns, "ensure")
    host_ns.run("ip", "link", "set", "vsa", "down")
    adopted = drive(host_ns, "adopt")
    assert adopted["intact"] == {"b": indexes[1], "c": indexes[2]}
    assert adopted["managed"] == {str(indexes[1]): "vsb", str(indexes[2]): "vsc"}
    assert adopted["pending"] == [indexes[2]]
    assert adopted["interfaces"]


def test_lazy_bridge_adopts_without_pyroute2_then_hands_over(host_ns: Namespace) -> None:
    indexes = drive(host_ns, "ensure")
    lazy = drive(host_ns, "lazy")
    assert lazy["pyroute2_before"] == []
    assert lazy["intact"] == dict(zip("abc", indexes, strict=True))
    assert lazy["same"]  # loaded once, however many callers wait for it
    assert lazy["managed"] == {str(i): f"vs{n}" for n, i in zip("abc", indexes, strict=True)}
    assert lazy["pending"] == [indexes[0], indexes[2]]  # STP asked for (a: by default)
    assert lazy["state"]["ifindex"] == indexes[0]
