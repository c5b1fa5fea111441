"""Parsing dnsmasq's own lease file."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vnetd.dnsmasq.leases import DhcpLease, parse_leases, read_leases
from vnetd.errors import InvalidArgument

# As dnsmasq 2.90 writes it: IPv4 leases, then the server DUID, then IPv6 leases.
SAMPLE = """\
1795849998 02:00:00:00:00:06 10.9.0.25 * 01:02:00:00:00:00:06
1795849992 96:d8:6e:29:37:b1 10.9.0.21 alpha *
0 52:54:00:aa:bb:cc 10.9.0.5 forever 01:52:54:00:aa:bb:cc
1795850000 06-00:11:22:33:44:55 10.9.0.30 tokenring *
duid 00:01:00:01:2c:8e:1a:10:52:54:00:11:22:33
1795851000 1234567 2001:db8:9::1:20 peter 00:03:00:01:52:54:00:44:55:66
1795851001 T42 2001:db8:9::1:21 * 00:01:00:01:18:aa:62:fe:00:16:3e:44:55:66
"""


def test_ipv4_lines() -> None:
    leases = parse_leases(SAMPLE)
    first, second, forever, tokenring = leases[:4]
    assert first == DhcpLease(expiry=1795849998, protocol="ipv4",
                              ip=ipaddress.ip_address("10.9.0.25"), mac="02:00:00:00:00:06",
                              hostname=None, client_id="01:02:00:00:00:00:06",
                              hardware_type=1)
    assert second.hostname == "alpha" and second.client_id is None
    assert second.expires_at == datetime.fromtimestamp(1795849992, UTC)
    assert forever.expiry == 0 and forever.expires_at is None
    assert not forever.expired(now=4e9)
    assert tokenring.hardware_type == 6 and tokenring.mac == "00:11:22:33:44:55"


def test_ipv6_lines_carry_duid_and_iaid() -> None:
    v6 = [lease for lease in parse_leases(SAMPLE) if lease.protocol == "ipv6"]
    assert len(v6) == 2
    peter, temp = v6
    assert peter.ip == ipaddress.ip_address("2001:db8:9::1:20")
    assert peter.iaid == 1234567 and not peter.temporary
    assert peter.hostname == "peter"
    assert peter.client_id == "00:03:00:01:52:54:00:44:55:66"
    assert peter.server_duid == "00:01:00:01:2c:8e:1a:10:52:54:00:11:22:33"
    assert peter.mac is None
    assert temp.temporary and temp.iaid == 42 and temp.hostname is None


def test_malformed_lines_skipped_or_refused() -> None:
    text = "garbage\n1795849998 02:00:00:00:00:06 10.9.0.25 * *\n12 aa 999.1.1.1 * *\n"
    leases = parse_leases(text)
    assert [str(lease.ip) for lease in leases] == ["10.9.0.25"]
    with pytest.raises(InvalidArgument, match="lease file line 1"):
        parse_leases(text, strict=True)


def test_read_leases_drops_expired(tmp_path: Path) -> None:
    path = tmp_path / "net.leases"
    assert read_leases(path) == []
    path.write_text("100 02:00:00:00:00:01 10.0.0.2 old *\n"
                    "0 02:00:00:00:00:02 10.0.0.3 inf *\n"
                    "300 02:00:00:00:00:03 10.0.0.4 new *\n")
    assert [lease.hostname for lease in read_leases(path, now=200)] == ["inf", "new"]
    assert len(read_leases(path)) == 3
