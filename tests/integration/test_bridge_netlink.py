"""The netlink bridge backend against a real kernel, inside a fresh namespace.

The backend acts in the namespace of its process, so every call runs in a Python
subprocess under ``ip netns exec``; results come back as JSON and the kernel's view is
read with ``ip -j`` inside the same namespace.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.integration.netns import Namespace

pytestmark = pytest.mark.integration

BR = "vnbr0"
MAC = "52:54:00:12:34:56"

DEFAULT_DEF = f"""NetworkDefinition(
    name="t1", bridge=Bridge(name={BR!r}), mac={MAC!r}, mtu=1400,
    ips=(IpConfig(address="192.168.150.1", prefix=24),
         IpConfig(address="192.168.151.1", netmask="255.255.255.0"),
         IpConfig(address="fd00:150::1", family="ipv6", prefix=64)),
    routes=(Route(address="10.77.0.0", prefix=16, gateway="192.168.150.9"),
            Route(address="fd00:77::", prefix=64, gateway="fd00:150::9", family="ipv6",
                  metric=5)))"""

DRIVER = r'''
import asyncio, dataclasses, json, subprocess, sys, time
from vnetd.bridge import NetlinkBridge
from vnetd.errors import VnetdError
from vnetd.model import Bridge, IpConfig, NetworkDefinition, Route

definition = %(definition)s

async def main():
    backend = NetlinkBridge()
    results = []
    for op in json.loads(sys.argv[1]):
        started = time.monotonic()
        try:
            if op == "check":
                value = await backend.check_conflicts(definition)
            elif op == "ensure":
                value = await backend.ensure(definition)
            elif op == "remove":
                value = await backend.remove(definition.bridge.name)
            elif op == "inspect":
                state = await backend.inspect(definition.bridge.name)
                value = None if state is None else state.__dict__
            elif op == "names":
                value = sorted(await backend.interface_names())
            elif op in ("check-other", "ensure-other", "remove-other"):
                # The same subnets on another bridge, as a second network would have them.
                other = dataclasses.replace(definition, name="t2", bridge=Bridge(name="vnbr1"))
                if op == "check-other":
                    value = await backend.check_conflicts(other)
                elif op == "ensure-other":
                    value = await backend.ensure(other)
                else:
                    value = await backend.remove("vnbr1")
            elif op == "deleting":  # bridges whose teardown was handed to the thread
                value = sorted(backend._deleting)
            elif op == "kernel-links":  # the kernel's list, not waiting for deletions
                value = sorted(json.loads(subprocess.run(
                    ["ip", "-j", "link", "show"], capture_output=True, text=True,
                    check=True).stdout), key=lambda l: l["ifindex"])
                value = [l["ifname"] for l in value]
            elif op.startswith("isolate:"):
                value = await backend.set_port_isolated(op.split(":", 1)[1])
            else:
                raise SystemExit("unknown op " + op)
            results.append({"op": op, "ok": True, "value": value})
        except VnetdError as exc:
            results.append({"op": op, "ok": False, "error": type(exc).__name__,
                            "message": exc.message})
        results[-1]["seconds"] = time.monotonic() - started
    await backend.close()
    print(json.dumps(results))

asyncio.run(main())
'''


def backend(ns: Namespace, *ops: str, definition: str = DEFAULT_DEF) -> list[dict[str, Any]]:
    proc = ns.python(DRIVER % {"definition": definition}, json.dumps(list(ops)),
                     env={"PYTHONWARNINGS": "error"})
    results: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    # A missing await only warns: it must not go unseen.
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return results


def ok(result: dict[str, Any]) -> Any:
    assert result["ok"], result
    return result["value"]


def link(ns: Namespace, name: str) -> dict[str, Any] | None:
    proc = ns.run("ip", "-j", "-d", "link", "show", "dev", name, check=False)
    if proc.returncode != 0:
        return None
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found[0]


def addresses(ns: Namespace, name: str) -> dict[str, dict[str, Any]]:
    data: list[dict[str, Any]] = ns.ip_json("addr", "show", "dev", name)  # type: ignore[assignment]
    return {f"{a['local']}/{a['prefixlen']}": a for a in data[0]["addr_info"]}


def routes(ns: Namespace, family: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = ns.ip_json(family, "route", "show", "table", "main")  # type: ignore[assignment]
    return data


def sysctl(ns: Namespace, name: str, key: str) -> str:
    return ns.run("cat", f"/proc/sys/net/ipv6/conf/{name}/{key}").stdout.strip()


def kernel_view(ns: Namespace) -> tuple[str, str, str, str]:
    """Everything ``ensure`` may change, in a form that compares across calls."""
    lk = ns.run("ip", "-j", "-d", "link", "show", "dev", BR).stdout
    data = json.loads(lk)[0]
    info = data["linkinfo"]["info_data"]
    summary = json.dumps([data["address"], data["mtu"], data["flags"], info["stp_state"],
                          info["forward_delay"]])
    return (summary, ns.run("ip", "-j", "addr", "show", "dev", BR).stdout,
            ns.run("ip", "-j", "-4", "route").stdout, ns.run("ip", "-j", "-6", "route").stdout)


def assert_fully_built(ns: Namespace) -> None:
    data = link(ns, BR)
    assert data is not None
    assert data["linkinfo"]["info_kind"] == "bridge"
    assert data["address"] == MAC
    assert data["mtu"] == 1400
    assert "UP" in data["flags"]
    info = data["linkinfo"]["info_data"]
    # <bridge stp> defaults to on, but kernel STP waits for a port that is not a guest's
    # (test_bridge_stp.py); until then the delay is the definition's 0, unclamped.
    assert info["stp_state"] == 0
    assert info["forward_delay"] == 0
    addrs = addresses(ns, BR)
    assert {"192.168.150.1/24", "192.168.151.1/24", "fd00:150::1/64"} <= set(addrs)
    assert addrs["192.168.151.1/24"]["broadcast"] == "192.168.151.255"
    assert addrs["fd00:150::1/64"].get("nodad") is True
    assert "tentative" not in addrs["fd00:150::1/64"]
    v4 = {(r["dst"], r.get("gateway"), r.get("metric")) for r in routes(ns, "-4")
          if r.get("dev") == BR}
    assert ("10.77.0.0/16", "192.168.150.9", 1) in v4
    v6 = {(r["dst"], r.get("gateway"), r.get("metric")) for r in routes(ns, "-6")
          if r.get("dev") == BR}
    assert ("fd00:77::/64", "fd00:150::9", 5) in v6
    assert sysctl(ns, BR, "accept_ra") == "0"
    assert sysctl(ns, BR, "autoconf") == "0"
    assert sysctl(ns, BR, "disable_ipv6") == "0"


def test_ensure_builds_the_bridge(host_ns: Namespace) -> None:
    check, ensure, inspect = backend(host_ns, "check", "ensure", "inspect")
    ok(check)
    ifindex = ok(ensure)
    print(f"\nbridge ensure took {ensure['seconds'] * 1000:.1f} ms")
    assert_fully_built(host_ns)
    state = ok(inspect)
    assert state["ifindex"] == ifindex == link(host_ns, BR)["ifindex"]  # type: ignore[index]
    assert state["up"] is True
    assert state["mac"] == MAC and state["mtu"] == 1400
    assert set(state["addresses"]) == {"192.168.150.1/24", "192.168.151.1/24",
                                       "fd00:150::1/64"}


def test_stp_off_and_delay(host_ns: Namespace) -> None:
    definition = ('NetworkDefinition(name="t2", bridge=Bridge(name="vnbr1", stp=False, '
                  'delay=3), ips=(IpConfig(address="10.10.0.1", prefix=24),))')
    ok(backend(host_ns, "ensure", definition=definition)[0])
    info = link(host_ns, "vnbr1")["linkinfo"]["info_data"]  # type: ignore[index]
    assert info["stp_state"] == 0
    assert info["forward_delay"] == 300  # centiseconds
    # No IPv6 address on the network: IPv6 is off on the bridge, as libvirt does.
    assert sysctl(host_ns, "vnbr1", "disable_ipv6") == "1"


def test_second_ensure_changes_nothing(host_ns: Namespace) -> None:
    ok(backend(host_ns, "ensure")[0])
    before = kernel_view(host_ns)
    monitor = host_ns.popen("ip", "monitor", "link", "address", "route")
    time.sleep(0.3)  # let the monitor subscribe before the second run
    again = backend(host_ns, "check", "ensure")
    time.sleep(0.3)
    monitor.terminate()
    events, _ = monitor.communicate(timeout=5)
    ok(again[0])
    ok(again[1])
    print(f"\nsecond (no-op) ensure took {again[1]['seconds'] * 1000:.1f} ms")
    assert events == "", f"a second ensure changed the kernel state:\n{events}"
    assert kernel_view(host_ns) == before


def test_partial_state_is_completed_and_extras_kept(host_ns: Namespace) -> None:
    # What a crash half way through a first ensure could leave: the bridge with its MAC,
    # one address, down, STP off; plus a route someone else put on it.
    host_ns.run("ip", "link", "add", BR, "address", MAC, "type", "bridge", "stp_state", "0")
    host_ns.run("ip", "addr", "add", "192.168.150.1/24", "dev", BR)
    host_ns.run("ip", "link", "set", BR, "up")
    host_ns.run("ip", "route", "add", "10.88.0.0/16", "via", "192.168.150.20", "dev", BR)
    host_ns.run("ip", "link", "set", BR, "down")
    ifindex = link(host_ns, BR)["ifindex"]  # type: ignore[index]
    check, ensure = backend(host_ns, "check", "ensure")
    ok(check)
    assert ok(ensure) == ifindex  # adopted, not recreated
    assert_fully_built(host_ns)
    # the 10.88 route went with the link going down; the address someone added stays
    assert "192.168.150.1/24" in addresses(host_ns, BR)


def test_remove_is_idempotent(host_ns: Namespace) -> None:
    ensure, remove1, remove2, inspect = backend(host_ns, "ensure", "remove", "remove", "inspect")
    ok(ensure)
    ok(remove1)
    ok(remove2)
    assert ok(inspect) is None
    assert link(host_ns, BR) is None
    assert not [r for r in routes(host_ns, "-4") if r.get("dev") == BR]


def test_remove_frees_the_name_at_once_and_the_kernel_deletes_the_bridge_after(
        host_ns: Namespace) -> None:
    """remove() returns once the bridge is down, without addresses and renamed; the
    kernel's teardown runs in a thread; ensure() of the same network right after builds
    a new bridge beside the one being deleted."""
    ensure1, remove1, deleting, seen, ensure2, remove2, seen2 = backend(
        host_ns, "ensure", "remove", "deleting", "kernel-links", "ensure", "remove",
        "kernel-links")
    first = ok(ensure1)
    ok(remove1)
    assert ok(deleting) == [first]  # not deleted inside remove(): that blocks the loop
    # Right after remove(): the name is free; at most the set-aside bridge is left.
    assert BR not in ok(seen)
    assert set(ok(seen)) - {"lo"} <= {f"vdel-{first:x}"}
    second = ok(ensure2)
    assert second != first  # a new bridge, not the one being deleted
    ok(remove2)
    assert BR not in ok(seen2)
    # close() waited for both deletions: nothing of either bridge is left.
    names = {entry["ifname"] for entry in json.loads(host_ns.run("ip", "-j", "link").stdout)}
    assert names == {"lo"}, names


def test_removed_bridges_addresses_are_gone_before_the_next_check(host_ns: Namespace) -> None:
    """Another network with the same subnets on another bridge may start right after a
    destroy: the bridge being deleted has no addresses left to conflict with."""
    results = backend(host_ns, "ensure", "remove", "check-other", "ensure-other",
                      "remove-other")
    for result in results:
        ok(result)
    assert link(host_ns, BR) is None and link(host_ns, "vnbr1") is None


def test_delete_link_in_a_thread(host_ns: Namespace) -> None:
    """vnetd.bridge.linkdel: the hand-made RTM_DELLINK deletes, treats a missing link as
    deleted, and reports the kernel's refusal."""
    host_ns.run("ip", "link", "add", "vndummy0", "type", "veth", "peer", "name", "vndummy1")
    index = json.loads(host_ns.run("ip", "-j", "link", "show", "vndummy0").stdout)[0]["ifindex"]
    proc = host_ns.python(
        "import sys\nfrom vnetd.bridge.linkdel import delete_link\n"
        "delete_link(int(sys.argv[1]))\ndelete_link(int(sys.argv[1]))\n"
        "try:\n    delete_link(1)\nexcept OSError as exc:\n    print('refused', exc.errno)\n",
        str(index))
    assert link(host_ns, "vndummy0") is None and link(host_ns, "vndummy1") is None
    assert proc.stdout.split()[0] == "refused" and int(proc.stdout.split()[1]) > 0
    assert link(host_ns, "lo") is not None


def test_veth_with_the_bridge_name_is_refused_untouched(host_ns: Namespace) -> None:
    host_ns.run("ip", "link", "add", BR, "type", "veth", "peer", "name", "vnpeer0")
    before = host_ns.run("ip", "-j", "-d", "addr", "show").stdout
    check, ensure, remove, inspect, names = backend(host_ns, "check", "ensure", "remove",
                                                    "inspect", "names")
    for result in (check, ensure):
        assert not result["ok"]
        assert result["error"] == "Conflict"
        assert f"in use by interface {BR} (a veth, not a bridge)" in result["message"]
    ok(remove)  # not ours: left alone, without an error
    assert ok(inspect) is None
    assert BR in ok(names)
    assert host_ns.run("ip", "-j", "-d", "addr", "show").stdout == before
    assert link(host_ns, BR)["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]


def test_bridge_with_foreign_address_is_refused(host_ns: Namespace) -> None:
    host_ns.run("ip", "link", "add", BR, "address", MAC, "type", "bridge")
    host_ns.run("ip", "addr", "add", "192.168.150.1/24", "dev", BR)  # ours
    host_ns.run("ip", "addr", "add", "172.16.5.1/24", "dev", BR)  # not ours
    before = kernel_view(host_ns)
    (check,) = backend(host_ns, "check")
    assert check["error"] == "Conflict"
    assert "carries 172.16.5.1/24" in check["message"]
    assert kernel_view(host_ns) == before


@pytest.mark.parametrize("route", [
    ["-4", "192.168.0.0/16", "dev", "oth0"],     # wider than the network's 192.168.150.0/24
    ["-4", "192.168.151.0/24", "dev", "oth0"],   # identical to its second subnet
    ["-6", "fd00:150::/48", "dev", "oth0"],
    ["-4", "192.168.150.128/25", "nexthop", "dev", "oth0", "nexthop", "dev", "oth1"],
])
def test_overlapping_route_on_another_interface_is_refused(host_ns: Namespace,
                                                           route: list[str]) -> None:
    host_ns.run("ip", "link", "add", "oth0", "type", "veth", "peer", "name", "oth1")
    host_ns.run("ip", "link", "set", "oth0", "up")
    host_ns.run("ip", "link", "set", "oth1", "up")
    host_ns.run("ip", route[0], "route", "add", *route[1:])
    (check,) = backend(host_ns, "check")
    assert check["error"] == "Conflict"
    assert "Network is already in use by interface oth0" in check["message"]
    assert link(host_ns, BR) is None  # nothing was built


def test_adjacent_route_is_no_conflict(host_ns: Namespace) -> None:
    host_ns.run("ip", "link", "add", "oth0", "type", "veth", "peer", "name", "oth1")
    host_ns.run("ip", "link", "set", "oth0", "up")
    host_ns.run("ip", "route", "add", "192.168.152.0/24", "dev", "oth0")
    host_ns.run("ip", "route", "add", "default", "dev", "oth0")
    check, ensure = backend(host_ns, "check", "ensure")
    ok(check)
    ok(ensure)


def test_failed_ensure_removes_the_bridge_it_made(host_ns: Namespace) -> None:
    # A gateway outside every subnet of the bridge: the kernel refuses the route, after
    # the bridge, its addresses and its state were already made.
    definition = (f'NetworkDefinition(name="t3", bridge=Bridge(name={BR!r}), '
                  'ips=(IpConfig(address="10.10.0.1", prefix=24),), '
                  'routes=(Route(address="10.99.0.0", prefix=16, gateway="10.200.0.1"),))')
    (ensure,) = backend(host_ns, "ensure", definition=definition)
    assert ensure["error"] == "Failed"
    assert "<route address='10.99.0.0' gateway='10.200.0.1'>" in ensure["message"]
    assert link(host_ns, BR) is None


def test_port_isolation(host_ns: Namespace) -> None:
    ok(backend(host_ns, "ensure")[0])
    host_ns.run("ip", "link", "add", "vnport0", "type", "veth", "peer", "name", "vnport1")
    host_ns.run("ip", "link", "set", "vnport0", "master", BR)
    ok(backend(host_ns, "isolate:vnport0")[0])
    slave = link(host_ns, "vnport0")["linkinfo"]["info_slave_data"]  # type: ignore[index]
    assert slave["isolated"] is True
    (missing,) = backend(host_ns, "isolate:nonexist0")
    assert missing["error"] == "Failed"


WATCH = r'''
import asyncio, json
from pyroute2 import AsyncIPRoute
from vnetd.bridge import NetlinkBridge
from vnetd.model import Bridge, IpConfig, NetworkDefinition

definition = NetworkDefinition(name="w", bridge=Bridge(name="vnbrw"),
                               ips=(IpConfig(address="10.30.0.1", prefix=24),))
other = NetworkDefinition(name="o", bridge=Bridge(name="vnbro"),
                          ips=(IpConfig(address="10.31.0.1", prefix=24),))

async def main():
    backend = NetlinkBridge()
    seen = []
    listening = asyncio.Event()
    task = asyncio.create_task(backend.watch(seen.append, listening.set))
    await listening.wait()
    await backend.ensure(definition)
    await backend.ensure(other)
    await backend.remove("vnbro")  # removed by vnetd itself: no event
    async with AsyncIPRoute() as ipr:  # someone else meddles
        index = (await ipr.link_lookup(ifname="vnbrw"))[0]
        await ipr.addr("del", index=index, address="10.30.0.1", prefixlen=24)
        await ipr.link("del", index=index)
    for _ in range(100):
        if any(e.what == "link-removed" for e in seen):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await backend.close()
    print(json.dumps([[e.bridge, e.what, e.address] for e in seen]))

asyncio.run(main())
'''


def test_watch_reports_removal_behind_our_back(host_ns: Namespace) -> None:
    proc = host_ns.python(WATCH, env={"PYTHONWARNINGS": "error"})
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    events = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ["vnbrw", "address-removed", "10.30.0.1/24"] in events
    assert ["vnbrw", "link-removed", None] in events
    assert all(e[0] == "vnbrw" for e in events)


def test_python_subprocess_is_in_the_namespace(host_ns: Namespace) -> None:
    """Guard: the backend's process must not see the machine's own interfaces."""
    (names,) = backend(host_ns, "names")
    assert ok(names) == ["lo"]
    assert subprocess.run(["ip", "netns", "identify"], capture_output=True,
                          text=True).stdout.strip() != host_ns.name


CONCURRENT = r'''
import asyncio, json, time
from vnetd.bridge import NetlinkBridge
from vnetd.model import Bridge, IpConfig, NetworkDefinition, Route

defs = [NetworkDefinition(name=f"c{i}", bridge=Bridge(name=f"vnc{i}"),
                          ips=(IpConfig(address=f"10.{i}.0.1", prefix=24),
                               IpConfig(address=f"fd00:{i}::1", family="ipv6", prefix=64)),
                          routes=(Route(address=f"10.{100 + i}.0.0", prefix=16,
                                        gateway=f"10.{i}.0.9"),))
        for i in range(20)]

async def main():
    backend = NetlinkBridge()
    started = time.monotonic()
    await asyncio.gather(*(backend.check_conflicts(d) for d in defs))
    indexes = await asyncio.gather(*(backend.ensure(d) for d in defs))
    took = time.monotonic() - started
    states = await asyncio.gather(*(backend.inspect(d.bridge.name) for d in defs))
    await asyncio.gather(*(backend.remove(d.bridge.name) for d in defs))
    await backend.close()  # waits for the kernel to finish deleting them
    fresh = NetlinkBridge()
    left = await fresh.interface_names()
    await fresh.close()
    print(json.dumps({"indexes": indexes, "took": took, "left": sorted(left),
                      "addresses": [list(s.addresses) for s in states]}))

asyncio.run(main())
'''


def test_concurrent_calls_share_one_socket(host_ns: Namespace) -> None:
    """The manager starts networks concurrently; the kernel allows one dump per socket
    at a time, so the backend must serialize its requests."""
    proc = host_ns.python(CONCURRENT, env={"PYTHONWARNINGS": "error"})
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n20 concurrent check+ensure took {result['took'] * 1000:.1f} ms")
    assert len(set(result["indexes"])) == 20
    assert result["addresses"][3] == ["10.3.0.1/24", "fd00:3::1/64"]
    assert result["left"] == ["lo"]


def test_set_aside_bridges_left_by_a_crash_are_deleted(host_ns: Namespace) -> None:
    """A daemon killed between remove()'s rename and the kernel's teardown leaves a down
    bridge named vdel-<hex>; the next start deletes it, and nothing else."""
    run = host_ns.run
    run("ip", "link", "add", "vdel-ff", "type", "bridge")  # down: what remove() leaves
    run("ip", "link", "add", "vdel-fe", "type", "bridge")
    run("ip", "link", "set", "vdel-fe", "up")  # up: not set aside by vnetd
    run("ip", "link", "add", "vdel-fd", "type", "veth", "peer", "name", "vdel-zz")
    proc = host_ns.python(
        "import asyncio\nfrom vnetd.bridge import NetlinkBridge\n"
        "b = NetlinkBridge()\nprint(asyncio.run(b.clear_set_aside()))\n")
    assert proc.stdout.strip() == "['vdel-ff']"
    assert link(host_ns, "vdel-ff") is None
    assert all(link(host_ns, n) is not None for n in ("vdel-fe", "vdel-fd", "vdel-zz"))


def test_set_aside_clean_up_trusts_the_names_already_read(host_ns: Namespace) -> None:
    """With the start-up's interface names at hand and none of them set aside, no second
    dump: a vdel bridge the names did not list stays (the names are the caller's word)."""
    host_ns.run("ip", "link", "add", "vdel-ee", "type", "bridge")
    proc = host_ns.python(
        "import asyncio\nfrom vnetd.bridge import NetlinkBridge\nb = NetlinkBridge()\n"
        "print(asyncio.run(b.clear_set_aside(frozenset({'lo'}))),"
        " asyncio.run(b.clear_set_aside(frozenset({'lo', 'vdel-ee'}))))\n")
    assert proc.stdout.strip() == "[] ['vdel-ee']"
    assert link(host_ns, "vdel-ee") is None


def test_no_answer_is_left_unread_on_the_socket(host_ns: Namespace) -> None:
    """Every message the kernel sends the backend's socket is read by the request that
    asked for it. pyroute2 puts any other message in a queue that nothing reads on this
    socket, so one left over per request is memory kept for ever: link lookups that
    asked for an acknowledgement left two per start and stop."""
    proc = host_ns.python(
        "import asyncio\n"
        "from vnetd.bridge.netlink import NetlinkBridge\n"
        "from vnetd.netxml import parse_network\n"
        "xml = (\"<network><name>q1</name><forward mode='nat'/><bridge name='vnq1'/>\"\n"
        "       \"<ip address='10.202.1.1' netmask='255.255.255.0'/></network>\")\n"
        "async def main():\n"
        "    b = NetlinkBridge()\n"
        "    d = parse_network(xml)\n"
        "    for _ in range(10):\n"
        "        await b.check_conflicts(d)\n"
        "        await b.ensure(d)\n"
        "        assert (await b.inspect('vnq1')).up\n"
        "        await b.remove('vnq1')\n"
        "        assert await b.inspect('vnq1') is None\n"
        "    await asyncio.sleep(0.1)\n"
        "    print(b._ipr.msg_queue.root.qsize())\n"
        "    await b.close()\n"
        "asyncio.run(main())\n")
    assert proc.stdout.strip() == "0", proc.stdout


ANNOUNCEMENTS = r'''
import asyncio, json, socket, struct
from vnetd.bridge.netlink import NetlinkBridge
from vnetd.netxml import parse_network

RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
RTN_UNICAST, RT_SCOPE_LINK, RTA_OIF, IFF_UP = 1, 253, 4, 0x1
xml = ("<network><name>a1</name><forward mode='nat'/><bridge name='vna1'/>"
       "<ip address='10.203.1.1' netmask='255.255.255.0'/></network>")

def oif(data, offset, end):
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return None
        if kind == RTA_OIF:
            return struct.unpack_from("=i", data, offset + 4)[0]
        offset += (length + 3) & ~3
    return None

async def main():
    # What a bind-dynamic dnsmasq listens to (plus links, to see the bridge go up).
    listener = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    listener.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE))
    listener.setblocking(False)
    backend = NetlinkBridge()
    index = await backend.ensure(parse_network(xml))
    seen = []
    while True:
        try:
            data = listener.recv(1 << 16)
        except BlockingIOError:
            break
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            body = offset + 16
            if kind == RTM_NEWLINK:
                _f, _t, idx, flags = struct.unpack_from("=BxHiI", data, body)
                if idx == index:
                    seen.append("link-up" if flags & IFF_UP else "link-down")
            elif kind == RTM_NEWADDR:
                if struct.unpack_from("=BBBBI", data, body)[4] == index:
                    seen.append("address")
            elif kind == RTM_NEWROUTE:
                _fam, _dl, _sl, _tos, table, _p, scope, rtype, _fl = struct.unpack_from(
                    "=BBBBBBBBI", data, body)
                if (oif(data, body + 12, offset + length) == index
                        and rtype == RTN_UNICAST and scope == RT_SCOPE_LINK):
                    seen.append("prefix-route")
            offset += (length + 3) & ~3
    listener.close()
    await backend.remove("vna1")
    await backend.close()
    print(json.dumps(seen))

asyncio.run(main())
'''


def test_address_and_prefix_route_are_announced_together_after_the_bridge_is_up(
        host_ns: Namespace) -> None:
    """Every running dnsmasq (bind-dynamic) wakes up for each address and for each new
    link-scope route, and lists all interfaces again: with 100 running, ~0.4 ms of CPU
    each. With the bridge up before its address is added, the prefix route comes in
    the same burst as the address (one wake-up each, not two)."""
    proc = host_ns.python(ANNOUNCEMENTS, env={"PYTHONWARNINGS": "error"})
    assert "Traceback" not in proc.stderr, proc.stderr
    seen: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    relevant = [s for s in seen if s != "link-down"]
    assert relevant[:3] == ["link-up", "address", "prefix-route"], seen
    assert relevant.count("prefix-route") == 1 and relevant.count("address") == 1, seen
