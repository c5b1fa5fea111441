"""Other tables' drop rules through the real daemon: a chain with policy drop that another
program adds (Docker's FORWARD, ufw) shows up in every running network's ``Problems``
with the fix for that network's bridge, also for a network started afterwards, and
the report goes away with the chain. vnetd never changes that table."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology

FOREIGN = """
table ip dockerish {
  chain FORWARD { type filter hook forward priority 0; policy drop; }
}
"""


def _firewall_problems(api: Api, path: str) -> list[str]:
    return [p for p in api.prop(path, "Problems") if p.startswith("firewall: ")]


def _wait_for(what: str, predicate: Any, timeout: float = 10) -> Any:
    began = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() - began < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_foreign_drop_chain_is_reported_per_network_and_cleared(vnetd_daemon: Daemon,
                                                               topology: Topology) -> None:
    host = topology.host
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    first = api.define(network_xml("fa", 81, bridge="vfa"))
    second = api.define(network_xml("fb", 82, bridge="vfb"))
    api.net(first, "Start")
    time.sleep(1)  # past the first start's look at other tables
    assert _firewall_problems(api, first) == []

    host.run("nft", "-f", "-", input=FOREIGN)
    found = _wait_for("the first network's report",
                      lambda: _firewall_problems(api, first))
    assert len(found) == 1, found
    assert "chain FORWARD in table ip dockerish (hook forward" in found[0]
    assert 'iifname "vfa" accept' in found[0] and 'oifname "vfa" accept' in found[0]

    # Started after the chain came: reported too, with its own bridge in the fix.
    api.net(second, "Start")
    found = _wait_for("the second network's report",
                      lambda: _firewall_problems(api, second))
    assert len(found) == 1 and 'iifname "vfb" accept' in found[0], found

    # Read only: vnetd left the other table as it was.
    listing = host.run("nft", "list", "table", "ip", "dockerish").stdout
    assert "policy drop" in listing and "vfa" not in listing and "vfb" not in listing

    host.run("nft", "delete", "table", "ip", "dockerish")
    _wait_for("the reports to clear", lambda: not _firewall_problems(api, first)
              and not _firewall_problems(api, second))
