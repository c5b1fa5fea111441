"""vnetd.bridge.routedump against pyroute2's reading of the same kernel tables.

The route collision check reads the main table at every network start; routedump reads
it from the raw bytes. Here both readers see one namespace full of route shapes
(gateway and metric, multipath, blackhole, IPv6, another table, many of them) and
must agree on every fact the check uses.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.netns import Namespace

pytestmark = pytest.mark.integration

COMPARE = r'''
import asyncio, json, socket, sys
from pyroute2 import AsyncIPRoute
from vnetd.bridge.conflicts import MAIN_TABLE, parse_network
from vnetd.bridge.routedump import dump_routes

def fact(network, oifs, gateway, metric, table, kind):
    return [str(network), sorted(oifs), gateway, metric, table, kind]

async def with_pyroute2(oif):
    ipr = AsyncIPRoute()
    await ipr.setup_endpoint()
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        async for msg in await ipr.route("dump", family=family):
            table = msg.get("RTA_TABLE") or msg["table"]
            if table != MAIN_TABLE:
                continue
            via = msg.get("RTA_OIF")
            oifs = (via,) if via else tuple(
                nh["oif"] for nh in (msg.get("RTA_MULTIPATH") or []) if nh.get("oif"))
            if oif is not None and oif not in oifs:
                continue
            out.append(fact(parse_network(msg.get("RTA_DST"), msg["dst_len"],
                                          family == socket.AF_INET6),
                            oifs, msg.get("RTA_GATEWAY"), msg.get("RTA_PRIORITY") or 0,
                            table, msg["type"]))
    ipr.close()
    return out

async def main():
    oif = int(sys.argv[1]) if len(sys.argv) > 1 else None
    raw = [fact(r.network, r.oifs, r.gateway, r.metric, r.table, r.type)
           for r in await dump_routes((socket.AF_INET, socket.AF_INET6), MAIN_TABLE, oif)]
    print(json.dumps({"raw": raw, "pyroute2": await with_pyroute2(oif)}))

asyncio.run(main())
'''


@pytest.fixture
def routed(host_ns: Namespace) -> Namespace:
    run = host_ns.run
    for name, v4, v6 in (("vrd0", "10.60.0.1/24", "fd60::1/64"),
                         ("vrd1", "10.61.0.1/24", "fd61::1/64")):
        run("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        run("ip", "link", "set", name, "up")
        run("ip", "link", "set", f"{name}p", "up")
        run("ip", "addr", "add", v4, "dev", name)
        run("ip", "-6", "addr", "add", v6, "dev", name, "nodad")
    run("ip", "route", "add", "10.70.0.0/16", "via", "10.60.0.9", "metric", "7")
    run("ip", "route", "add", "10.71.0.0/16", "nexthop", "via", "10.60.0.9", "nexthop", "via",
        "10.61.0.9")
    run("ip", "route", "add", "blackhole", "10.72.0.0/16")
    run("ip", "route", "add", "10.73.0.0/16", "via", "10.61.0.9", "table", "100")
    run("ip", "-6", "route", "add", "fd70::/48", "via", "fd60::9", "metric", "3")
    for i in range(150):  # more than one netlink datagram's worth
        run("ip", "route", "add", f"10.80.{i}.0/24", "via", "10.61.0.9")
    return host_ns


def test_routedump_reads_what_pyroute2_reads(routed: Namespace) -> None:
    result = json.loads(routed.python(COMPARE).stdout.strip().splitlines()[-1])
    assert sorted(result["raw"]) == sorted(result["pyroute2"])
    networks = {fact[0] for fact in result["raw"]}
    assert {"10.70.0.0/16", "10.71.0.0/16", "10.72.0.0/16", "fd70::/48", "10.80.149.0/24",
            "10.60.0.0/24", "fd60::/64"} <= networks
    assert "10.73.0.0/16" not in networks  # table 100 is not the main table
    multipath = next(f for f in result["raw"] if f[0] == "10.71.0.0/16")
    assert len(multipath[1]) == 2
    gatewayed = next(f for f in result["raw"] if f[0] == "10.70.0.0/16")
    assert gatewayed[2:4] == ["10.60.0.9", 7]


def test_routedump_filters_by_output_interface(routed: Namespace) -> None:
    index = json.loads(routed.run("ip", "-j", "link", "show", "vrd0").stdout)[0]["ifindex"]
    result = json.loads(routed.python(COMPARE, str(index)).stdout.strip().splitlines()[-1])
    assert sorted(result["raw"]) == sorted(result["pyroute2"])
    assert result["raw"] and all(index in fact[1] for fact in result["raw"])
    assert not any(f[0].startswith("10.80.") for f in result["raw"])
