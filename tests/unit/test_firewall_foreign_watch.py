"""Pure parts of the foreign drop-policy report and of the monitor's change filter."""

from __future__ import annotations

from vnetd.firewall.foreign import find_foreign_drops
from vnetd.firewall.rules import chain_ids
from vnetd.firewall.watch import (
    Change,
    Finished,
    Transactions,
    affected_networks,
    concerns_vnetd,
    parse_change,
)


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
    found = find_foreign_drops(listing)
    assert [(f.family, f.table, f.chain, f.hook, f.priority) for f in found] == [
        ("inet", "filter", "forward", "forward", 0), ("ip", "ufw", "input", "input", -10)]
    assert '{ "virbr0", "virbr1" }' in found[0].fix(("virbr0", "virbr1"))
    assert "nft insert rule ip ufw input" in found[1].fix()
    # One listing serves every bridge: the fix names the bridge it is asked for.
    assert 'iifname "vnb7" udp dport' in found[1].describe(("vnb7",))
    assert "drops by default" in found[1].describe()
    assert find_foreign_drops(None) == []


def test_monitor_lines_of_vnetds_table_only() -> None:
    def concerns(line: str) -> bool:
        change = parse_change(line)
        return change is not None and concerns_vnetd(change)

    assert concerns("delete table inet vnetd")
    assert concerns("delete rule inet vnetd forward handle 3")
    assert concerns('add element inet vnetd to_bridge { "virbr0" : jump nw-default-0a1b2c3d-in }')
    assert not concerns("add table ip vnetd")
    assert not concerns("delete chain inet filter x")
    assert not concerns("# new generation 7 by process 42 (nft)")
    assert not concerns("")


# As nft 1.0.6 prints them (`nft monitor`), names shortened.
OURS = [
    "add chain inet vnetd nw-net1-11111111-in",
    "add rule inet vnetd nw-net1-11111111-in oifname \"vb1\" reject",
    'add element inet vnetd to_bridge { "vb1" : jump nw-net1-11111111-in }',
    "# new generation 5 by process 100 (python3)",
]
THEIRS = [
    "delete rule inet vnetd nw-net1-11111111-in handle 4",
    "delete rule inet filter forward handle 9",  # not vnetd's table
    "# new generation 6 by process 200 (nft)",
]


def test_own_transactions_are_dropped_and_others_kept() -> None:
    transactions = Transactions(ours=lambda pid: pid == 100)
    finished = [transactions.feed(line) for line in OURS + THEIRS]
    assert finished[:-1] == [None] * (len(OURS) + len(THEIRS) - 1)
    assert finished[-1] == Finished(
        [Change("delete", "rule", "inet", "vnetd", "nw-net1-11111111-in")],
        other_tables=True)  # the rule in inet filter
    # A transaction whose generation line names no process is someone else's.
    assert transactions.feed("delete table inet vnetd") is None
    assert transactions.feed("# new generation 7") == Finished(
        [Change("delete", "table", "inet", "vnetd", "")], other_tables=False)
    # Only other tables: what the foreign-rule report looks at again.
    transactions.feed("add chain ip filter FORWARD { type filter hook forward priority "
                      "filter; policy drop; }")
    assert transactions.feed("# new generation 8 by process 300 (iptables-nft)") == Finished(
        [], other_tables=True)
    # This process's own change to another table is its own business.
    transactions.feed("add table ip mine")
    assert transactions.feed("# new generation 9 by process 100 (python3)") is None


def test_affected_networks_from_changes() -> None:
    names = ["net1", "net2"]
    in_chain = chain_ids("net1").all()[0]
    rule = parse_change(f"delete rule inet vnetd {in_chain} handle 4")
    element = parse_change(f'add element inet vnetd to_bridge {{ "vb1" : jump {in_chain} }}')
    bare = parse_change('delete element inet vnetd to_bridge { "vb1" }')
    table = parse_change("delete table inet vnetd")
    assert rule and element and bare and table
    assert element.targets == (in_chain,)
    assert affected_networks([rule], names) == {"net1"}
    assert affected_networks([element], names) == {"net1"}
    assert affected_networks([bare], names) is None  # no target named: look at all
    assert affected_networks([table, rule], names) is None
