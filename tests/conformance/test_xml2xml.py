"""libvirt's parse -> format cases: libvirt-9.0.0 networkxml2xml and modern networkxmlconfdata.

Successes must format to the expected file byte for byte (libvirt 9.0 writes an
empty ``<ip>`` as an open/close pair, the modern files as ``<ip/>``: the modern
cases are formatted with ``self_closing_empty_ip=True``); parse errors must be
refused with ``InvalidArgument``.
"""

from __future__ import annotations

import re

import pytest

from tests.conformance.corpus import corpus, read_text, tsv_rows
from vnetd.defaults import apply_defaults
from vnetd.errors import InvalidArgument
from vnetd.netxml import format_network, parse_network
from vnetd.support import unsupported_reasons

#: Cases vnetd deliberately does not format as libvirt does: case -> reason.
#: Hardware-only forms are round-tripped verbatim, so none is needed today.
UNSUPPORTED: dict[str, str] = {}

LEGACY = "libvirt-9.0.0/TESTS-networkxml2xml.tsv"
MODERN = "modern/networkxmlconfdata/TESTS.tsv"
MOCK_MAC = "52:54:00:00:00:00"


def _cases() -> list[object]:
    cases: list[object] = []
    for row in tsv_rows(LEGACY):
        cases.append(pytest.param("legacy", row, id=f"9.0-{row['case']}"))
    for row in tsv_rows(MODERN):
        cases.append(pytest.param("modern", row, id=f"modern-{row['name']}"))
    if not cases:
        cases.append(pytest.param("none", {}, id="corpus-missing"))
    return cases


def _expected_modern(row: dict[str, str]) -> tuple[str | None, bool]:
    """Expected text and whether it is an exact (not near-match) expectation."""
    root = corpus()
    if row["expected_xml"] != "-":
        return read_text(root / "modern/networkxmlconfdata" / row["expected_xml"]), True
    # The partial copy lacks some .expect.xml files; its note names a near match.
    match = re.search(r"networkxml2xmlout/([\w.-]+\.xml)", row.get(
        "files_missing_from_this_partial_copy", ""))
    if match:
        near = root / "libvirt-9.0.0/networkxml2xmlout" / match.group(1)
        if near.exists():
            return read_text(near), False
    return None, False


@pytest.mark.parametrize(("kind", "row"), _cases())
def test_xml2xml(kind: str, row: dict[str, str], record_property: pytest.RecordProperty) -> None:
    root = corpus()
    record_property("conformance", "xml2xml")
    name = row["case"] if kind == "legacy" else row["name"]
    directory = root / ("libvirt-9.0.0" if kind == "legacy" else "modern/networkxmlconfdata")
    source = read_text(directory / row["input"])
    if name in UNSUPPORTED:
        record_property("unsupported", True)
        definition = parse_network(source)
        assert unsupported_reasons(definition), f"{name} is declared unsupported but startable"
        return
    if row["expected_result"] == "parse-error":
        with pytest.raises(InvalidArgument) as info:
            parse_network(source)
        assert re.match(r"<[\w:]+>", str(info.value)), f"error does not name an element: {info}"
        return
    definition = parse_network(source)
    if kind == "legacy":
        expected = read_text(root / "libvirt-9.0.0" / row["expected_output"])
        assert format_network(definition) == expected
        return
    expected_text, exact = _expected_modern(row)
    if expected_text is not None and f"<mac address='{MOCK_MAC}'/>" in expected_text:
        definition = apply_defaults(definition, taken_bridge_names=(),
                                    mac_factory=lambda: MOCK_MAC)
    output = format_network(definition, self_closing_empty_ip=True)
    if expected_text is None:
        # Nothing to compare with: at least the output must parse back to the same thing.
        assert parse_network(output) == definition
    elif exact:
        assert output == expected_text
    else:
        assert parse_network(output) == parse_network(expected_text)
