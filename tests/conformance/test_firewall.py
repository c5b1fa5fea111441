"""vnetd's firewall builder against libvirt's expected firewall commands.

``modern/networkxml2firewalldata`` (nftables, libvirt 10.4-10.8) and
``libvirt-9.0.0/networkxml2firewalldata`` (iptables) are both turned into the form of
``firewall_norm`` and compared with what ``vnetd.firewall.rules`` builds from the same
XML. A case is *equivalent* when every purpose matches (rules, per-subnet order, the
catch-all after the accepts); it *differs on purpose* when every difference is a
purpose listed in ``ON_PURPOSE``; anything else fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import firewall_norm as norm
from tests.conformance.corpus import CORPUS, corpus, read_text, tsv_rows
from tests.conformance.summary import record_summary
from vnetd.firewall.rules import build_network
from vnetd.netxml import parse_network

MODERN = "modern/networkxml2firewalldata"
LEGACY = "libvirt-9.0.0/networkxml2firewalldata"

#: Every place where vnetd's rules differ from libvirt's, and why.
ON_PURPOSE: dict[str, str] = {
    "host-in": "libvirt's iptables backend opened DHCP/DNS/TFTP in the host's INPUT chain. "
               "vnetd's own table accepts by default and cannot override another table's "
               "drop, so host rules there would change nothing; vnetd, like libvirt's "
               "nftables backend, adds none and reports foreign drop-policy chains with a "
               "fix instead (vnetd.firewall.foreign).",
    "host-out": "same as host-in, for the OUTPUT chain (DHCP and DNS replies).",
    "mangle": "the iptables CHECKSUM --checksum-fill target has no nftables equivalent; "
              "libvirt's nftables backend of the same era (the modern expectations) has "
              "none either. Guests with checksum-strict DHCP clients need the tc csum "
              "action that libvirt added later; not done yet.",
}


def _cases() -> list[object]:
    cases: list[object] = []
    for row in tsv_rows(f"{MODERN}/TESTS.tsv"):
        cases.append(pytest.param(MODERN, row["input"], row["expected_nft_commands"],
                                  id=f"nft-{row['name']}"))
    if CORPUS is not None:
        for args in sorted((CORPUS / LEGACY).glob("*-linux.args")):
            xml = args.name.replace("-linux.args", ".xml")
            cases.append(pytest.param(LEGACY, xml, args.name, id=f"iptables-{args.stem}"))
    if not cases:
        cases.append(pytest.param("", "", "", id="corpus-missing"))
    return cases


RESULTS: dict[str, str] = {}


def _record(case: str, outcome: str) -> None:
    RESULTS[case] = outcome
    equivalent = sum(1 for o in RESULTS.values() if o == "equivalent")
    on_purpose = sum(1 for o in RESULTS.values() if o == "on purpose")
    record_summary(f"conformance firewall: {equivalent}/{len(RESULTS)} equivalent, "
                   f"{on_purpose} differ on purpose", key="firewall")


@pytest.mark.parametrize(("directory", "xml", "expected"), _cases())
def test_firewall(directory: str, xml: str, expected: str) -> None:
    root = corpus()
    folder = Path(root) / directory
    definition = parse_network(read_text(folder / xml))
    assert definition.bridge_name is not None
    ours = norm.from_vnetd(build_network(definition), definition.bridge_name)
    path = folder / expected
    theirs = (norm.from_libvirt_nft(path) if expected.endswith(".nftables")
              else norm.from_libvirt_iptables(path))
    differences = norm.differing_purposes(theirs, ours)
    unexplained = {p: d for p, d in differences.items() if p not in ON_PURPOSE}
    _record(f"{directory}/{xml}", "differs" if unexplained else
            "on purpose" if differences else "equivalent")
    assert not unexplained, unexplained


def test_on_purpose_list_is_used() -> None:
    """Every listed difference must still occur somewhere (no stale excuses)."""
    root = corpus()
    seen: set[str] = set()
    for args in (Path(root) / LEGACY).glob("*-linux.args"):
        definition = parse_network(read_text(args.parent / args.name.replace("-linux.args",
                                                                             ".xml")))
        assert definition.bridge_name is not None
        ours = norm.from_vnetd(build_network(definition), definition.bridge_name)
        seen |= set(norm.differing_purposes(norm.from_libvirt_iptables(args), ours))
    assert set(ON_PURPOSE) <= seen


def test_normalizer_notices_a_missing_rule_and_a_wrong_order() -> None:
    root = corpus()
    folder = Path(root) / MODERN
    definition = parse_network(read_text(folder / "nat-default.xml"))
    theirs = norm.from_libvirt_nft(folder / "nat-default-linux.nftables")
    ours = norm.from_vnetd(build_network(definition), "virbr0")
    assert norm.differing_purposes(theirs, ours) == {}
    dropped = {k: v[:-1] if k == (4, "nat") else v for k, v in ours.items()}
    assert "nat" in norm.differing_purposes(theirs, dropped)
    reordered = {k: v[::-1] if k == (4, "out") else v for k, v in ours.items()}
    assert "order differs" in norm.differing_purposes(theirs, reordered)["out"]
