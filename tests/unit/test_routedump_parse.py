"""vnetd.bridge.routedump's parsing of RTM_NEWROUTE bodies, from bytes built here (the
kernel's own answers are compared with pyroute2's in tests/integration)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from vnetd.bridge import routedump

RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _route(dst: str | None, dst_len: int, oif: int, *, family: int = socket.AF_INET,
           gateway: str | None = None, metric: int | None = None) -> bytes:
    body = struct.pack("=BBBBBBBBI", family, dst_len, 0, 0, 254, 3, 0, 1, 0)
    body += _attr(RTA_TABLE, struct.pack("=I", 254))
    if dst is not None:
        body += _attr(RTA_DST, socket.inet_pton(family, dst))
    body += _attr(RTA_OIF, struct.pack("=i", oif))
    if gateway is not None:
        body += _attr(RTA_GATEWAY, socket.inet_pton(family, gateway))
    if metric is not None:
        body += _attr(RTA_PRIORITY, struct.pack("=I", metric))
    return body


def _parse(body: bytes) -> routedump.RouteFact:
    return routedump.parse_route(body, 0, len(body))


def test_a_route_is_read_from_its_attributes() -> None:
    fact = _parse(_route("10.20.0.0", 16, 7, gateway="10.0.0.1", metric=100))
    assert fact.network == ipaddress.ip_network("10.20.0.0/16")
    assert (fact.oifs, fact.gateway, fact.metric, fact.table) == ((7,), "10.0.0.1", 100, 254)
    v6 = _parse(_route("fd00:1::", 64, 3, family=socket.AF_INET6))
    assert v6.network == ipaddress.ip_network("fd00:1::/64")
    default = _parse(_route(None, 0, 2))
    assert default.network == ipaddress.ip_network("0.0.0.0/0")


def test_destinations_seen_before_are_not_parsed_again() -> None:
    first = _parse(_route("10.30.1.0", 24, 5))
    again = _parse(_route("10.30.1.0", 24, 9, metric=5))
    assert again.network is first.network
    assert again.oifs == (9,) and again.metric == 5
    other_length = _parse(_route("10.30.1.0", 25, 5))
    assert other_length.network == ipaddress.ip_network("10.30.1.0/25")


def test_the_kept_destinations_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routedump, "_networks", {})
    monkeypatch.setattr(routedump, "NETWORKS_KEPT", 3)
    facts = [_parse(_route(f"10.40.{i}.0", 24, 5)) for i in range(10)]
    assert len(routedump._networks) <= 3
    assert [str(f.network) for f in facts] == [f"10.40.{i}.0/24" for i in range(10)]
