"""Packets through the rules: a guest behind a NAT bridge reaches the uplink masqueraded;
an isolated network forwards nothing; the monitor notices a flush behind vnetd's back."""

from __future__ import annotations

import subprocess

from tests.conftest import require_tools
from tests.integration.netns import (
    PYTHON,
    REPO,
    UPLINK_HOST_IP,
    UPLINK_PEER_IP,
    Topology,
)

BRIDGE = "vnbr0"
PRELUDE = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from vnetd.firewall.nft import NftFirewall
from vnetd.model import Bridge, Forward, IpConfig, NetworkDefinition
def net(forward):
    return NetworkDefinition(name="t", bridge=Bridge(name={BRIDGE!r}), forward=forward,
                             ips=(IpConfig(address="192.168.150.1", prefix=24),))
fw = NftFirewall()
"""

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5555)); s.listen(1); s.settimeout(20)
print("listening", flush=True)
conn, peer = s.accept()
print("peer", peer[0], flush=True)
"""

CLIENT = f"""
import socket, sys
try:
    socket.create_connection(({UPLINK_PEER_IP!r}, 5555), timeout=3).close()
    print("connected")
except OSError as exc:
    print("failed", type(exc).__name__, exc)
"""


def _bridge_with_guest(topology: Topology) -> None:
    host = topology.host
    host.run("ip", "link", "add", BRIDGE, "type", "bridge")
    host.run("ip", "addr", "add", "192.168.150.1/24", "dev", BRIDGE)
    host.run("ip", "link", "set", BRIDGE, "up")
    guest = topology.add_guest(BRIDGE)
    guest.ns.run("ip", "addr", "add", "192.168.150.10/24", "dev", "eth0")
    guest.ns.run("ip", "route", "add", "default", "via", "192.168.150.1")


def _server(topology: Topology) -> subprocess.Popen[str]:
    server = topology.uplink.popen(PYTHON, "-c", SERVER)
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "listening"
    return server


def test_nat_guest_reaches_uplink_masqueraded(topology: Topology) -> None:
    require_tools("nft")
    _bridge_with_guest(topology)
    topology.host.python(PRELUDE + "fw.apply(net(Forward()))")
    server = _server(topology)
    out = topology.guests[0].ns.python(CLIENT).stdout
    assert out.strip() == "connected"
    assert server.stdout is not None
    assert server.stdout.readline().split() == ["peer", UPLINK_HOST_IP]
    server.wait(timeout=10)


def test_isolated_network_forwards_nothing(topology: Topology) -> None:
    require_tools("nft")
    _bridge_with_guest(topology)
    topology.host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    topology.host.python(PRELUDE + "fw.apply(net(None))")
    _server(topology)
    out = topology.guests[0].ns.python(CLIENT).stdout
    # The reject rule answers at once (port unreachable -> ECONNREFUSED), no timeout.
    assert out.startswith("failed ConnectionRefusedError"), out
    # The host itself is still reachable from the guest (isolated = guests + host).
    topology.guests[0].ns.run("ping", "-c1", "-W2", "192.168.150.1")


def test_watch_reports_a_flush_behind_vnetds_back(topology: Topology) -> None:
    """Another process's change to vnetd's table is reported, and one to another table
    is signalled; the watching process's own (vnetd's starts and stops) are not: they
    would cost a listing of the whole table."""
    require_tools("nft")
    host = topology.host
    host.python(PRELUDE + "fw.apply(net(Forward()))")
    watcher = host.popen(PYTHON, "-c", PRELUDE + """
import asyncio, dataclasses, json, threading
from vnetd.firewall.watch import watch
async def main():
    started = asyncio.Event()
    def burst(changes):
        kinds = sorted({f'{c.verb} {c.kind}' for c in changes})
        print('burst', json.dumps(kinds), flush=True)
    others = lambda: print('others', flush=True)
    task = asyncio.create_task(watch(burst, started=started, on_other_tables=others))
    await started.wait()
    await asyncio.sleep(0.5)
    # This process's own transactions, from the loop's thread and from another.
    other = dataclasses.replace(net(Forward()), name="t2", bridge=Bridge(name="vbr-own"),
                                ips=(IpConfig(address="192.168.151.1", prefix=24),))
    fw.apply(other)
    done = threading.Event()
    def remove():
        fw.remove("t2")
        done.wait()  # a thread that still runs when the monitor names it
    worker = threading.Thread(target=remove)
    worker.start()
    await asyncio.sleep(0.5)
    done.set(); worker.join()
    print('ready', flush=True)
    await asyncio.sleep(15)
    task.cancel()
asyncio.run(main())
""")
    assert watcher.stdout is not None
    first = watcher.stdout.readline().strip()
    if first != "ready":
        watcher.kill()
        _out, err = watcher.communicate(timeout=5)
        raise AssertionError(f"{first!r}: {err}")
    host.run("nft", "add", "table", "ip", "unrelated")  # not vnetd's: only "others"
    assert watcher.stdout.readline().strip() == "others"
    host.run("nft", "flush", "table", "inet", "vnetd")
    line = watcher.stdout.readline().strip()
    assert line.startswith("burst "), line
    assert "delete rule" in line
    assert "unrelated" not in line
    watcher.terminate()
    watcher.wait(timeout=5)
