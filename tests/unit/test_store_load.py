"""Daemon start: a running network's status that holds its stored definition's XML shares
the parsed definition (parsed once), and only then."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vnetd.manager import DEFAULT_NETWORK_XML
from vnetd.model import NetworkDefinition
from vnetd.netxml import format_network, parse_network
from vnetd.paths import Paths
from vnetd.store import RuntimeStatus, Store

EXTRA = """<network>
  <name>a--b</name>
  <uuid>0b5ad6a4-5ab6-4b9e-9c55-0d0e2bb54b8f</uuid>
  <bridge name='vab0' stp='off'/>
  <mtu size='1400'/>
  <ip address='10.9.0.1' prefix='24'><dhcp><range start='10.9.0.2' end='10.9.0.9'/>
    <host mac='52:54:00:00:00:01' name='x' ip='10.9.0.5'/></dhcp></ip>
  <ip family='ipv6' address='fd00:9::1' prefix='64'/>
</network>"""


class CountingParse:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> NetworkDefinition:
        self.calls += 1
        return parse_network(text)


@pytest.fixture
def parse() -> CountingParse:
    return CountingParse()


@pytest.fixture
def store(tmp_path: Path, parse: CountingParse) -> Store:
    s = Store(Paths(tmp_path / "etc", tmp_path / "run", tmp_path / "lib"), parse,
              format_network)
    s.prepare()
    return s


def _status(definition: NetworkDefinition) -> RuntimeStatus:
    return RuntimeStatus(definition=definition, persistent=True, bridge_ifindex=3,
                         dnsmasq_pid=None, started_at=1.0)


@pytest.mark.parametrize("xml", [DEFAULT_NETWORK_XML, EXTRA], ids=["default", "dashes"])
def test_the_header_changes_nothing_parsed(xml: str, store: Store) -> None:
    definition = parse_network(xml)
    store.save_definition(definition)
    text = store.definition_path(definition.name).read_text()
    assert parse_network(text) == parse_network(format_network(definition)) == definition


def test_identical_status_shares_the_definition(store: Store, parse: CountingParse) -> None:
    same, changed, transient = (parse_network(DEFAULT_NETWORK_XML), parse_network(EXTRA),
                                parse_network(DEFAULT_NETWORK_XML.replace("default", "tr")))
    for definition in (same, changed):
        store.save_definition(definition)
    running_changed = replace(changed, mtu=9000)  # redefined while running: pending
    for definition in (same, running_changed, transient):
        store.save_status(definition.name, _status(definition))
    parse.calls = 0

    stored = {item.definition.name: item.definition for item in store.load_definitions()}
    statuses = store.load_statuses()
    assert parse.calls == 2 + 2  # the two stored, then only the two that differ
    assert statuses["default"].definition is stored["default"]
    assert statuses["a--b"].definition == running_changed
    assert statuses["a--b"].definition != stored["a--b"]
    assert statuses["tr"].definition == transient
    # Only right after load_definitions: a later load parses again.
    parse.calls = 0
    assert store.load_statuses()["default"].definition == same
    assert parse.calls == 3
