"""libvirt's networkxml2conf corpus: network XML -> dnsmasq conf and DHCP hostsfile.

Every case of ``libvirt-9.0.0/TESTS-networkxml2conf.tsv`` and every conf case of
``modern/networkxmlconfdata/TESTS.tsv`` runs: the XML goes through
``vnetd.netxml.parse_network`` and the libvirt-compatible part of vnetd's renderer
(``render_config`` without the daemon section, pid file left out as in libvirt's
test), with libvirt's dnsmasq directory ``/var/lib/libvirt/dnsmasq``. The conf text
and the hostsfile must match byte for byte. Deliberate differences are listed, with
their reasons, in ``UNSUPPORTED`` below; each of them must be refused with a clear
error rather than rendered differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.corpus import TALLIES, Tally, corpus, read_text, tsv_rows
from vnetd.dnsmasq import (
    FULL_CAPS,
    RESTRICTED_CAPS,
    DnsmasqCaps,
    DnsmasqFiles,
    render_config,
    render_hostsfile,
)
from vnetd.errors import InvalidArgument
from vnetd.netxml import parse_network
from vnetd.paths import Paths

SUITE = "xml2conf"
# The summary line of this suite also counts the cases declared unsupported.
TALLIES.setdefault(SUITE, Tally(show_unsupported=True))

#: libvirt's test runs with dnsmasqStateDir /var/lib/libvirt/dnsmasq and no pid file.
LIBVIRT_PATHS = Paths(state_dir=Path("/var/lib/libvirt"))

#: Cases vnetd deliberately does not reproduce: name -> (reason, refusal message pattern).
UNSUPPORTED: dict[str, tuple[str, str]] = {
    "nat-network-name-with-quotes": (
        "libvirt writes the hostsfile and addn-hosts paths XML-escaped "
        "(default&quot;with&quot;quotes&quot;.hostsfile, a file that does not exist), and with "
        "the real name dnsmasq would take the '\"' for quoting and refuse the line; vnetd "
        "refuses to render such a path instead",
        r"hostsfile path: .* cannot be written in a dnsmasq conf",
    ),
}

#: dnsmasq capability sets of libvirt's test (a "caps" column where the TSV has one).
CAPS: dict[str, DnsmasqCaps] = {
    "full": FULL_CAPS,
    "dhcpv6": FULL_CAPS,
    "restricted": RESTRICTED_CAPS,
}


@dataclass(frozen=True)
class Case:
    name: str
    directory: str
    xml: str
    conf: str
    hostsfile: str | None
    caps: str = "full"

    @property
    def id(self) -> str:
        return f"{self.directory.split('/')[0]}/{self.name}"


def collect() -> list[Case]:
    cases = []
    base = "libvirt-9.0.0"
    for row in tsv_rows(f"{base}/TESTS-networkxml2conf.tsv"):
        hosts = row.get("expected_hostsfile", "-")
        cases.append(Case(row["case"], base, row["input"], row["expected_dnsmasq_conf"],
                          None if hosts in {"-", ""} else hosts,
                          row.get("caps") or row.get("capabilities") or "full"))
    modern = "modern/networkxmlconfdata"
    for row in tsv_rows(f"{modern}/TESTS.tsv"):
        if row.get("expected_result") != "success" or row.get("expected_conf", "-") == "-":
            continue  # parse errors belong to xml2xml; no conf file recovered for some
        hosts = row.get("expected_hostsfile", "-")
        cases.append(Case(row["name"], modern, row["input"], row["expected_conf"],
                          None if hosts in {"-", ""} else hosts))
    return cases


CASES = collect()


def test_corpus_present() -> None:
    root = corpus()
    assert CASES, f"no xml2conf cases found under {root}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_xml2conf(case: Case, record_property: pytest.RecordProperty) -> None:
    record_property("conformance", SUITE)
    folder = corpus() / case.directory
    definition = parse_network(read_text(folder / case.xml))
    files = DnsmasqFiles.for_network(LIBVIRT_PATHS, definition.name)
    assert case.caps in CAPS, f"unknown dnsmasq capability set {case.caps!r}"
    caps = CAPS[case.caps]
    if case.name in UNSUPPORTED:
        record_property("unsupported", True)
        _reason, refusal = UNSUPPORTED[case.name]
        with pytest.raises(InvalidArgument, match=refusal):
            render_config(definition, files, caps=caps)
        return
    assert render_config(definition, files, caps=caps) == read_text(folder / case.conf)
    if case.hostsfile is not None:
        assert render_hostsfile(definition) == read_text(folder / case.hostsfile)
