"""Pure parts of the foreign drop-policy report and of the monitor event filter."""

from __future__ import annotations

from vnetd.firewall.foreign import find_foreign_drops
from vnetd.firewall.watch import concerns_vnetd


def _chain(family: str, table: str, name: str, hook: str | None, policy: str = "drop",
           prio: int = 0) -> dict[str, object]:
    chain: dict[str, object] = {"family": family, "table": table, "name": name, "handle": 1}
    if hook:
        chain.update(type="filter", hook=hook, prio=prio, policy=policy)
    return {"chain": chain}


def test_only_foreign_drop_policy_forward_and_input_chains_are_reported() -> None:
    listing = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        _chain("inet", "filter", "forward", "forward", prio=0),
        _chain("ip", "ufw", "input", "input", prio=-10),
        _chain("inet", "filter", "output", "output"),            # output: not watched
        _chain("inet", "vnetd", "forward", "forward"),           # our own table
        _chain("ip6", "relaxed", "forward", "forward", "accept"),
        _chain("bridge", "br", "forward", "forward"),            # not routed traffic
        _chain("inet", "filter", "regular", None),
    ]}
    found = find_foreign_drops(listing, ("virbr0", "virbr1"))
    assert [(f.family, f.table, f.chain, f.hook, f.priority) for f in found] == [
        ("inet", "filter", "forward", "forward", 0), ("ip", "ufw", "input", "input", -10)]
    assert '{ "virbr0", "virbr1" }' in found[0].fix
    assert "nft insert rule ip ufw input" in found[1].fix
    assert "drops by default" in found[1].describe()
    assert find_foreign_drops(None) == []


def test_monitor_events_of_vnetds_table_only() -> None:
    assert concerns_vnetd({"delete": {"table": {"family": "inet", "name": "vnetd"}}})
    assert concerns_vnetd({"delete": {"rule": {"family": "inet", "table": "vnetd",
                                               "chain": "forward", "handle": 3}}})
    assert concerns_vnetd({"add": {"element": {"family": "inet", "table": "vnetd",
                                               "name": "to_bridge", "elem": []}}})
    assert not concerns_vnetd({"add": {"table": {"family": "ip", "name": "vnetd"}}})
    assert not concerns_vnetd({"delete": {"chain": {"family": "inet", "table": "filter",
                                                    "name": "x"}}})
    assert not concerns_vnetd({"metainfo": {"version": "1.0.6"}})
