"""The nftables applier against the real kernel, inside a throwaway network namespace.

The applier runs in a subprocess under `ip netns exec` (``Namespace.python``), with
VNETD_TEST_GUARD=1 so it refuses the machine's own namespace.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import require_tools
from tests.integration.netns import REPO, Namespace

PRELUDE = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from tests.unit.firewall_cases import CASES, network, V4
from vnetd.errors import VnetdError
from vnetd.firewall import nft as nft_module
from vnetd.firewall.nft import NftFirewall
from vnetd.model import Bridge, Forward, ForwardMode, IpConfig, NetworkDefinition
fw = NftFirewall()
OTHER = NetworkDefinition(name="lab net/ü", bridge=Bridge(name="virbr7"), forward=Forward(),
                          ips=(IpConfig(address="10.7.0.1", prefix=24),))
"""


def fw(ns: Namespace, body: str) -> str:
    return ns.python(PRELUDE + body).stdout


def listing(ns: Namespace, *what: str) -> dict[str, Any]:
    out = ns.run("nft", "-j", "list", *what).stdout
    return json.loads(out) if out.strip() else {}


def rules_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["rule"] for item in doc.get("nftables", []) if "rule" in item]


def table_text(ns: Namespace) -> str:
    return ns.run("nft", "list", "ruleset").stdout


@pytest.fixture
def ns(host_ns: Namespace) -> Namespace:
    require_tools("nft")
    return host_ns


def test_apply_installs_verifiable_rules(ns: Namespace) -> None:
    assert ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    out = fw(ns, "fw.apply(CASES['nat']); print(fw.verify(CASES['nat']), "
                 "sorted(fw.installed_networks()))")
    assert out.split() == ["True", "['default']"]
    doc = listing(ns, "table", "inet", "vnetd")
    exprs = json.dumps(rules_of(doc))
    assert '"masquerade": {"port": {"range": [1024, 65535]}}' in exprs
    assert '"right": "virbr0"' in exprs
    assert ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"


def test_apply_twice_keeps_one_copy(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat-ipv6'])")
    first = rules_of(listing(ns, "table", "inet", "vnetd"))
    fw(ns, "fw.apply(CASES['nat-ipv6']); assert fw.verify(CASES['nat-ipv6'])")
    second = rules_of(listing(ns, "table", "inet", "vnetd"))
    assert len(second) == len(first)
    strip = [{k: v for k, v in r.items() if k != "handle"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "handle"} for r in second]


def test_changed_definition_replaces_the_networks_rules(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat-ipv6'])")
    out = fw(ns, "d = CASES['isolated']; fw.apply(d); print(fw.verify(d), fw.problems(d))")
    assert out.strip() == "True []"
    doc = listing(ns, "table", "inet", "vnetd")
    assert "masquerade" not in json.dumps(doc)
    assert "2001:db8" not in json.dumps(doc)


def test_failed_transaction_leaves_ruleset_unchanged(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat'])")
    before = table_text(ns)
    # A real kernel refusal in the middle of the document: a jump to a missing chain.
    out = fw(ns, """
orig = nft_module.apply_commands
def broken(*args, **kwargs):
    cmds = orig(*args, **kwargs)
    bad = {"add": {"rule": {"family": "inet", "table": "vnetd", "chain": "forward",
                            "expr": [{"jump": {"target": "no-such-chain"}}]}}}
    return cmds[:len(cmds) // 2] + [bad] + cmds[len(cmds) // 2:]
nft_module.apply_commands = broken
try:
    fw.apply(CASES['route'])
except VnetdError as exc:
    print(type(exc).__name__, exc)
""")
    assert out.startswith("Failed "), out
    assert "nftables refused" in out
    assert table_text(ns) == before


def test_conflicting_bridge_is_refused_without_change(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat'])")
    before = table_text(ns)
    out = fw(ns, """
clash = network(Forward(), IpConfig(address='10.5.0.1', prefix=24), name='clash')
try:
    fw.apply(clash)
except VnetdError as exc:
    print(type(exc).__name__)
""")
    assert out.strip() == "Conflict"
    assert table_text(ns) == before


def test_two_networks_and_removing_one_keeps_the_other(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat']); fw.apply(OTHER)")
    other_rules = [r for r in rules_of(listing(ns, "table", "inet", "vnetd"))
                   if r["chain"].startswith("nw-lab_net__")]
    assert other_rules
    out = fw(ns, "fw.remove('default'); fw.remove('default'); "
                 "print(sorted(fw.installed_networks()), fw.verify(OTHER))")
    assert out.strip() == "['lab net/ü'] True"
    after = [r for r in rules_of(listing(ns, "table", "inet", "vnetd"))
             if r["chain"].startswith("nw-lab_net__")]
    # Same handles: the other network's rules were not rewritten, only left alone.
    assert [r["handle"] for r in after] == [r["handle"] for r in other_rules]
    assert "nw-default" not in table_text(ns)


def test_removing_the_last_network_removes_the_table(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['isolated']); fw.remove('default'); "
           "assert fw.installed_networks() == set()")
    assert "vnetd" not in table_text(ns)


def test_foreign_tables_are_never_touched(ns: Namespace) -> None:
    ns.run("nft", "-f", "-", input="""
table ip filter {
  chain FORWARD { type filter hook forward priority 0; policy accept; counter; }
}
table inet mine {
  set allowed { type ipv4_addr; elements = { 192.0.2.1 } }
  chain post { type nat hook postrouting priority 100; masquerade; }
}
""")
    foreign = {t: listing(ns, "table", *t.split()) for t in ("ip filter", "inet mine")}
    fw(ns, "fw.apply(CASES['nat']); fw.apply(OTHER); fw.apply(CASES['route']); "
           "fw.remove('lab net/ü'); fw.remove('default')")
    assert {t: listing(ns, "table", *t.split()) for t in foreign} == foreign


def test_verify_detects_flush_and_deletion_and_apply_repairs(ns: Namespace) -> None:
    fw(ns, "fw.apply(CASES['nat'])")
    ids = fw(ns, "from vnetd.firewall.rules import chain_ids; "
                 "print(chain_ids('default').outbound)").strip()
    check = "print(fw.verify(CASES['nat']))"
    ns.run("nft", "flush", "chain", "inet", "vnetd", ids)
    assert fw(ns, check).strip() == "False"
    fw(ns, "fw.apply(CASES['nat'])")
    assert fw(ns, check).strip() == "True"
    ns.run("nft", "flush", "table", "inet", "vnetd")
    assert fw(ns, check).strip() == "False"
    fw(ns, "fw.apply(CASES['nat'])")
    assert fw(ns, check).strip() == "True"
    ns.run("nft", "delete", "table", "inet", "vnetd")
    assert fw(ns, check + "; print(sorted(fw.installed_networks()))").split() == ["False", "[]"]
    fw(ns, "fw.apply(CASES['nat'])")
    assert fw(ns, check).strip() == "True"
    ns.run("sysctl", "-qw", "net.ipv4.ip_forward=0")
    assert fw(ns, check).strip() == "False"


def test_open_network_has_no_rules(ns: Namespace) -> None:
    out = fw(ns, "fw.apply(CASES['open']); print(fw.verify(CASES['open']), "
                 "fw.installed_networks())")
    assert out.strip() == "True set()"
    assert "vnetd" not in table_text(ns)


def test_foreign_drop_policy_chains_are_reported(ns: Namespace) -> None:
    ns.run("nft", "-f", "-", input="""
table inet strict {
  chain fw { type filter hook forward priority 0; policy drop; }
  chain inp { type filter hook input priority 0; policy drop; }
  chain out { type filter hook output priority 0; policy drop; }
}
""")
    before = listing(ns, "table", "inet", "strict")
    out = fw(ns, "fw.apply(CASES['nat']); "
                 "[print(f.hook, f.table, f.chain, '|', f.fix(('virbr0',))) "
                 "for f in fw.foreign_drops()]")
    lines = sorted(out.strip().splitlines())
    assert [line.split("|")[0].split() for line in lines] == [["forward", "strict", "fw"],
                                                             ["input", "strict", "inp"]]
    assert 'oifname "virbr0" accept' in lines[0]
    assert "dport { 53, 67, 547 }" in lines[1]
    assert listing(ns, "table", "inet", "strict") == before  # reported, never edited


def test_guard_refuses_outside_a_test_namespace() -> None:
    import os
    import subprocess

    from tests.integration.netns import PYTHON

    # Read-only call, and the guard stops it before libnftables is even loaded.
    code = PRELUDE + "fw.installed_networks()"
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "VNETD_TEST_GUARD": "1"}, check=False)
    assert proc.returncode != 0
    assert "refusing to change nftables in the initial network namespace" in proc.stderr


def test_apply_and_remove_reuse_the_skeleton_they_left(ns: Namespace) -> None:
    """After the first transaction, apply and remove build on what the last one left:
    no chain and map listings (two libnftables round trips that grow with every
    network) on the way, and the kernel ends up as with fresh listings."""
    out = fw(ns, """
listings = []
real = fw._skeleton
def counted():
    listings.append(1)
    return real()
fw._skeleton = counted
fw.apply(CASES['nat'])
fw.apply(OTHER)
fw.apply(CASES['nat'])  # again: replaces its own rules
fw.remove(OTHER.name)
fw.apply(OTHER)
fw.apply(CASES['route'])  # another definition of 'default': its stale parts go
print(len(listings), fw.verify(OTHER), fw.verify(CASES['route']),
      sorted(fw.installed_networks()))
""")
    count, other_ok, route_ok, names = out.strip().split(maxsplit=3)
    assert count == "1"  # only the very first transaction read the kernel
    assert other_ok == "True" and route_ok == "True"
    assert names == "['default', 'lab net/ü']"


def test_a_table_changed_behind_the_cache_is_read_again(ns: Namespace) -> None:
    """Someone else changes the table between two transactions: the one built on the
    cached skeleton is refused, then built again from a fresh listing."""
    fw(ns, """
fw.apply(CASES['nat'])
fw.apply(OTHER)
import subprocess
# Behind vnetd's back: OTHER's chains and elements go with the whole table.
subprocess.run(['nft', 'delete', 'table', 'inet', 'vnetd'], check=True)
fw.remove(OTHER.name)            # cached: deletes what is no longer there -> re-read
fw.apply(CASES['nat'])           # table gone: rebuilt
assert fw.verify(CASES['nat']), fw.problems(CASES['nat'])
subprocess.run(['nft', 'flush', 'map', 'inet', 'vnetd', 'to_bridge'], check=True)
fw.remove(CASES['nat'].name)     # an element it would delete is gone -> re-read
""")
    assert "vnetd" not in table_text(ns)


def test_guard_alone_then_apply_verifies(ns: Namespace) -> None:
    """Network start: the dnsmasq guard goes in first, the full transaction after."""
    out = fw(ns, "fw.guard(CASES['nat']); print(fw.verify(CASES['nat']), "
                 "sorted(fw.installed_networks()))")
    assert out.split() == ["False", "['default']"]  # the guard alone is not the network
    chains = {item["chain"]["name"] for item in listing(ns, "chains").get("nftables", [])
              if "chain" in item}
    assert not [c for c in chains if c.startswith("nw-")]
    listen = ns.run("nft", "list", "set", "inet", "vnetd", "listen4").stdout
    assert '192.168.122.1 . udp . 53 comment "default"' in listen, listen
    home = ns.run("nft", "list", "set", "inet", "vnetd", "home4").stdout
    assert '192.168.122.1 . "virbr0" comment "default"' in home, home
    out = fw(ns, "fw.guard(CASES['nat']); fw.apply(CASES['nat']); fw.guard(CASES['nat']); "
                 "print(fw.verify(CASES['nat']), fw.problems(CASES['nat']))")
    assert out.strip() == "True []"


def test_a_guard_removed_before_the_apply_leaves_nothing(ns: Namespace) -> None:
    """A dnsmasq that fails to start: the runner removes the guard it installed; the
    applier's cache must know the guard is there (same process, cache in use)."""
    out = fw(ns, "fw.apply(CASES['nat']); fw.guard(OTHER); fw.guard(OTHER); "
                 "fw.remove(OTHER.name); "
                 "print(fw.verify(CASES['nat']), sorted(fw.installed_networks()))")
    assert out.split() == ["True", "['default']"]
    assert "10.7.0.1" not in ns.run("nft", "list", "set", "inet", "vnetd", "listen4").stdout


def test_changed_addresses_replace_the_guard_members(ns: Namespace) -> None:
    out = fw(ns, "fw.apply(CASES['nat']); d = network(Forward(), IpConfig(address="
                 "'192.168.123.1', prefix=24)); fw.apply(d); print(fw.verify(d))")
    assert out.strip() == "True"
    listen = ns.run("nft", "list", "set", "inet", "vnetd", "listen4").stdout
    assert "192.168.123.1" in listen and "192.168.122.1" not in listen
