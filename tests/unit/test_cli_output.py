"""virsh's output shapes, character for character (tools/virsh-network.c, vsh-table.c)."""

from __future__ import annotations

import json
import time

import pytest

from vnetctl import output
from vnetctl.types import DhcpLease, EventType, NetworkEvent, NetworkInfo

DEFAULT = NetworkInfo(name="default", uuid="3e3fce45-4f53-4fa7-bb32-11f34168b82b",
                      active=True, persistent=True, autostart=True, bridge="virbr0",
                      forward_mode="nat", path="/org/vnetd1/network/default")


def test_net_list_table_matches_virsh() -> None:
    assert output.net_list_table([DEFAULT]) == (
        " Name      State    Autostart   Persistent\n"
        "--------------------------------------------\n"
        " default   active   yes         yes\n"
    )


def test_net_list_table_without_networks_is_header_only() -> None:
    assert output.net_list_table([]) == (
        " Name   State   Autostart   Persistent\n"
        "----------------------------------------\n"
    )


def test_net_list_table_widens_to_longest_cell() -> None:
    other = NetworkInfo(name="isolated-lab", uuid="u", active=False, persistent=False,
                        autostart=False, bridge="", forward_mode="")
    text = output.net_list_table([DEFAULT, other])
    lines = text.splitlines()
    assert lines[0] == " Name           State      Autostart   Persistent"
    assert lines[1] == "-" * (12 + 3 + 8 + 3 + 9 + 3 + 10 + 3)
    assert lines[2] == " default        active     yes         yes"
    assert lines[3] == " isolated-lab   inactive   no          no"


def test_net_list_names_and_uuids() -> None:
    assert output.net_list_names([DEFAULT]) == "default\n"
    assert output.net_list_uuids([DEFAULT]) == DEFAULT.uuid + "\n"


def test_net_info_layout() -> None:
    assert output.net_info(DEFAULT) == (
        "Name:           default\n"
        "UUID:           3e3fce45-4f53-4fa7-bb32-11f34168b82b\n"
        "Active:         yes\n"
        "Persistent:     yes\n"
        "Autostart:      yes\n"
        "Bridge:         virbr0\n"
    )


def test_net_info_omits_missing_bridge() -> None:
    info = NetworkInfo("x", "u", False, False, False, "", "")
    assert "Bridge:" not in output.net_info(info)
    assert output.net_info(info).splitlines()[2] == "Active:         no"


def test_event_lines() -> None:
    event = NetworkEvent("/org/vnetd1/network/default", "default", EventType.STARTED, 0)
    assert output.event_line(event) == "event 'lifecycle' for network default: Started\n"
    assert output.event_line(event, "2024-01-01 00:00:00.000+0000") == (
        "2024-01-01 00:00:00.000+0000: event 'lifecycle' for network default: Started\n")
    unknown = NetworkEvent("/p", "n", 9, 0)
    assert output.event_line(unknown).endswith(": unknown\n")
    assert [EventType(i).label for i in range(4)] == ["Defined", "Undefined", "Started",
                                                      "Stopped"]


def test_json_shapes() -> None:
    data = json.loads(output.to_json(DEFAULT.to_json()))
    assert data == {"name": "default", "uuid": DEFAULT.uuid, "active": True,
                    "persistent": True, "autostart": True, "bridge": "virbr0",
                    "forward_mode": "nat"}
    event = NetworkEvent("/p", "default", EventType.STOPPED, 0)
    assert output.event_json(event) == {"event": "lifecycle", "network": "default",
                                        "type": "Stopped", "number": 3, "detail": 0}


def test_dhcp_leases_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        leases = [
            DhcpLease.from_struct(("virbr0", 1704067200, 0, "52:54:00:BB:00:02", "",
                                   "192.168.122.50", 24, "", "")),
            DhcpLease.from_struct(("virbr0", 1704070800, 0, "52:54:00:aa:00:01", "",
                                   "192.168.122.10", 24, "guest1", "01:52:54:00:aa:00:01")),
        ]
        dashes = "-" * (22 + 20 + 11 + 20 + 11 + 23)
        assert output.net_dhcp_leases(leases).splitlines() == [
            " Expiry Time           MAC address         Protocol   IP address          "
            "Hostname   Client ID or DUID",
            dashes,
            " 2024-01-01 01:00:00   52:54:00:aa:00:01   ipv4       192.168.122.10/24   "
            "guest1     01:52:54:00:aa:00:01",
            " 2024-01-01 00:00:00   52:54:00:BB:00:02   ipv4       192.168.122.50/24   "
            "-          -"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_dhcp_leases_table_with_ipv6_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Type 1 is ipv6; the last column then holds the DUID (virsh shows no IAID column)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        duid = "00:04:a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
        leases = [
            DhcpLease.from_struct(("virbr0", 1704067200, 1, "52:54:00:aa:00:01", "1193046",
                                   "2001:db8:ca2:2::4a", 64, "guest1", duid)),
            DhcpLease.from_struct(("virbr0", 1704067200, 0, "52:54:00:aa:00:01", "",
                                   "192.168.122.10", 24, "guest1", "")),
            DhcpLease.from_struct(("virbr0", 1704067200, 1, "", "7", "2001:db8:ca2:2::99",
                                   64, "", "00:01:02")),
        ]
        assert [lease.protocol for lease in leases] == ["ipv6", "ipv4", "ipv6"]
        assert leases[0].iaid == "1193046"
        rows = [line.split() for line in output.net_dhcp_leases(leases).splitlines()[2:]]
        assert rows == [
            ["2024-01-01", "00:00:00", "-", "ipv6", "2001:db8:ca2:2::99/64", "-", "00:01:02"],
            ["2024-01-01", "00:00:00", "52:54:00:aa:00:01", "ipv6", "2001:db8:ca2:2::4a/64",
             "guest1", duid],
            ["2024-01-01", "00:00:00", "52:54:00:aa:00:01", "ipv4", "192.168.122.10/24",
             "guest1", "-"],
        ]
    finally:
        monkeypatch.undo()
        time.tzset()
