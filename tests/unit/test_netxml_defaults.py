"""Define-time defaults (vnetd.defaults) and the start-time support list (vnetd.support)."""

from __future__ import annotations

import re

import pytest

from vnetd.defaults import apply_defaults, free_bridge_name, random_mac
from vnetd.errors import InvalidArgument, NotSupported
from vnetd.netxml import format_network, parse_network
from vnetd.support import check_startable, unsupported_reasons

ISOLATED = "<network><name>iso</name><ip address='10.0.0.1' prefix='24'/></network>"


def test_random_mac_is_unicast_qemu_prefix() -> None:
    for _ in range(50):
        mac = random_mac()
        assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", mac)


def test_free_bridge_name_takes_first_gap() -> None:
    assert free_bridge_name([]) == "virbr0"
    assert free_bridge_name(["virbr0", "virbr1", "virbr3"]) == "virbr2"


def test_free_bridge_name_exhausted() -> None:
    with pytest.raises(InvalidArgument, match="no free bridge name"):
        free_bridge_name([f"virbr{i}" for i in range(4096)])


def test_defaults_fill_uuid_bridge_and_mac() -> None:
    d = apply_defaults(parse_network(ISOLATED), taken_bridge_names={"virbr0"},
                       mac_factory=lambda: "52:54:00:AA:BB:CC")
    assert d.uuid is not None and re.fullmatch(r"[0-9a-f-]{36}", d.uuid)
    assert d.bridge is not None and d.bridge.name == "virbr1"
    assert d.bridge.stp is True and d.bridge.delay == 0
    assert d.mac == "52:54:00:aa:bb:cc"
    assert parse_network(format_network(d)) == d


def test_defaults_keep_given_values() -> None:
    given = parse_network("<network><name>g</name><uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b"
                          "</uuid><bridge name='br7'/><mac address='52:54:00:01:02:03'/>"
                          "<forward mode='route'/><ip address='10.0.0.1' prefix='24'/></network>")
    assert apply_defaults(given, taken_bridge_names=["br7"]) is given


@pytest.mark.parametrize("mode", ["bridge", "private", "vepa", "passthrough", "hostdev"])
def test_hardware_modes_get_no_bridge_or_mac(mode: str) -> None:
    d = parse_network(f"<network><name>h</name><forward mode='{mode}'>"
                      "<interface dev='eth0'/></forward></network>")
    filled = apply_defaults(d, taken_bridge_names=())
    assert filled.uuid is not None
    assert filled.bridge is None and filled.mac is None


@pytest.mark.parametrize(("xml", "reason"), [
    ("<forward mode='bridge'/><bridge name='br0'/>", "forward mode='bridge'"),
    ("<forward mode='hostdev'><pf dev='eth0'/></forward>", "forward mode='hostdev'"),
    ("<forward mode='nat'/><ip address='10.0.0.1' prefix='24'/>"
     "<virtualport type='openvswitch'/>", "<virtualport>"),
    ("<forward mode='nat'/><ip address='10.0.0.1' prefix='24'/><vlan><tag id='5'/></vlan>",
     "<vlan>"),
    ("<ip address='10.0.0.1' prefix='24'/><bridge macTableManager='libvirt'/>",
     "macTableManager='libvirt'"),
    ("<ip address='10.0.0.1' prefix='24'/><bridge zone='trusted'/>", "zone"),
    ("<ip address='10.0.0.1' prefix='24'/><bandwidth><inbound average='10'/></bandwidth>",
     "<bandwidth>"),
    ("<ip address='10.0.0.1' prefix='24'/><portgroup name='p'><vlan><tag id='3'/></vlan>"
     "</portgroup>", "<portgroup>"),
])
def test_not_startable(xml: str, reason: str) -> None:
    d = parse_network(f"<network><name>x</name>{xml}</network>")
    with pytest.raises(NotSupported) as info:
        check_startable(d)
    assert "not supported by vnetd" in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize("xml", [
    ISOLATED,
    "<network><name>n</name><forward/><ip address='10.0.0.1' prefix='24'/>"
    "<portgroup name='p'><bandwidth><inbound average='1'/></bandwidth></portgroup></network>",
    "<network trustGuestRxFilters='yes'><name>n</name><forward mode='open'/>"
    "<ip address='10.0.0.1' prefix='24'/><port isolated='no'/></network>",
    "<network><name>n</name><ip address='10.0.0.1' prefix='24'/><port isolated='yes'/>"
    "</network>",  # the backend flags each guest port as it joins
])
def test_startable(xml: str) -> None:
    d = parse_network(xml)
    assert unsupported_reasons(d) == []
    check_startable(d)


def test_metadata_text_with_newlines_round_trips() -> None:
    xml = ("<network><name>m</name><metadata><a:x xmlns:a='urn:a'>line1\n  line2"
           "<a:y k=\"it's\">v</a:y></a:x></metadata></network>")
    d = parse_network(xml)
    again = parse_network(format_network(d))
    assert again == d
    assert format_network(again) == format_network(d)


def test_special_characters_are_escaped() -> None:
    d = parse_network("<network><name>a&amp;b&lt;c'd\"</name><forward/>"
                      "<ip address='10.0.0.1' prefix='24'/><dns>"
                      "<txt name='t' value=\"it's &lt;x&gt;\"/></dns></network>")
    text = format_network(d)
    assert "<name>a&amp;b&lt;c'd\"</name>" in text
    assert "value='it&apos;s &lt;x&gt;'" in text
    assert parse_network(text) == d
