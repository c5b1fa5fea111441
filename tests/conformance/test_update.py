"""libvirt's net-update cases (libvirt-9.0.0 networkxml2xmlupdate + modern modify cases).

The 9.0 harness swaps parentIndex and flags (corpus README), so cases run with the
``parent_index_effective`` column. Successes must format to the expected file byte
for byte; failures must raise ``InvalidArgument`` (``NotSupported`` is one).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.corpus import corpus, read_text, tsv_rows
from vnetd.errors import InvalidArgument
from vnetd.netxml import format_network, parse_network
from vnetd.update import apply_update, parse_command, parse_section

LEGACY = "libvirt-9.0.0/TESTS-networkxml2xmlupdate.tsv"
MODERN = "modern/networkxml2xmlupdate-modify/TESTS.tsv"


def _cases() -> list[object]:
    cases: list[object] = []
    for index, row in enumerate(tsv_rows(LEGACY)):
        # Two upstream cases share a name (delete-dhcp-range, delete-forward-interface).
        cases.append(pytest.param("legacy", row, id=f"9.0-{index:02d}-{row['case']}"))
    for row in tsv_rows(MODERN):
        cases.append(pytest.param("modern", row, id=f"modern-{row['name']}"))
    if not cases:
        cases.append(pytest.param("none", {}, id="corpus-missing"))
    return cases


def _normalise(row: dict[str, str], kind: str, root: Path) -> tuple[Path, dict[str, str]]:
    if kind == "legacy":
        return root / "libvirt-9.0.0", {
            "base": row["network_xml"], "snippet": row["update_xml"],
            "expected": row["expected_output"], "index": row["parent_index_effective"],
            "fails": str(row["expected_result"] == "failure"),
        }
    return root / "modern/networkxml2xmlupdate-modify", {
        "base": row["base_network"], "snippet": row["update_snippet"],
        "expected": row["expected_output"], "index": "0",
        "fails": str(row["expect_failure"] == "yes"),
    }


@pytest.mark.parametrize(("kind", "row"), _cases())
def test_update(kind: str, row: dict[str, str], record_property: pytest.RecordProperty) -> None:
    root = corpus()
    record_property("conformance", "xml2xmlupdate")
    directory, case = _normalise(row, kind, root)
    base = parse_network(read_text(directory / case["base"]))
    args = (parse_command(row["command"]), parse_section(row["section"]), int(case["index"]),
            read_text(directory / case["snippet"]))
    if case["fails"] == "True":
        with pytest.raises(InvalidArgument):
            apply_update(base, *args)
        return
    updated = apply_update(base, *args)
    assert format_network(updated) == read_text(directory / case["expected"])
    # The result is a definition our own parser accepts unchanged.
    assert parse_network(format_network(updated)) == updated
