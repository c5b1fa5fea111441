"""Forwarding sysctls against a directory laid out like /proc/sys, and the netns guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.firewall_cases import CASES, V6, network
from vnetd.errors import Failed
from vnetd.firewall import nft, sysctl
from vnetd.model import Forward, ForwardMode


def _proc(tmp_path: Path, v4: str = "0", v6: str | None = "0") -> Path:
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / sysctl.IPV4_FORWARD).write_text(v4 + "\n")
    if v6 is not None:
        (tmp_path / "net/ipv6/conf/all").mkdir(parents=True)
        (tmp_path / sysctl.IPV6_FORWARD).write_text(v6 + "\n")
    return tmp_path


def test_needs_follow_libvirt() -> None:
    assert sysctl.forwarding_needs(CASES["nat"]) == sysctl.ForwardingNeeds(True, False)
    assert sysctl.forwarding_needs(CASES["nat-ipv6"]) == sysctl.ForwardingNeeds(True, True)
    assert sysctl.forwarding_needs(CASES["open"]) == sysctl.ForwardingNeeds(True, False)
    assert sysctl.forwarding_needs(CASES["isolated"]) == sysctl.ForwardingNeeds(False, False)
    route6 = network(Forward(mode=ForwardMode.ROUTE), V6)
    assert sysctl.forwarding_needs(route6) == sysctl.ForwardingNeeds(False, True)


def test_enable_writes_only_what_is_off(tmp_path: Path) -> None:
    root = _proc(tmp_path, v4="1", v6="0")
    assert sysctl.forwarding_drift(CASES["nat-ipv6"], root) == [sysctl.IPV6_FORWARD]
    assert sysctl.enable_forwarding(CASES["nat-ipv6"], root) == [sysctl.IPV6_FORWARD]
    assert (root / sysctl.IPV6_FORWARD).read_text().strip() == "1"
    assert sysctl.enable_forwarding(CASES["nat-ipv6"], root) == []
    assert sysctl.forwarding_drift(CASES["nat-ipv6"], root) == []


def test_missing_ipv6_sysctl_is_a_clear_error(tmp_path: Path) -> None:
    root = _proc(tmp_path, v6=None)
    with pytest.raises(Failed, match=r"net\.ipv6\.conf\.all\.forwarding does not exist"):
        sysctl.enable_forwarding(CASES["nat-ipv6"], root)


def test_guard_refuses_the_initial_namespace(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    netns_dir = tmp_path / "netns"
    netns_dir.mkdir()
    (netns_dir / "test-ns").touch()
    inodes = {"/proc/self/ns/net": 7, "/proc/1/ns/net": 1, str(netns_dir / "test-ns"): 7}

    def inode(path: str) -> int:
        if path not in inodes:
            raise PermissionError(path)
        return inodes[path]

    monkeypatch.setattr(nft, "_netns_inode", inode)
    monkeypatch.setenv(nft.GUARD_ENV, "1")
    nft.check_guard(netns_dir)  # inside a namespace made by `ip netns add`: allowed

    inodes["/proc/self/ns/net"] = 1  # the initial namespace
    with pytest.raises(Failed, match="initial network namespace"):
        nft.check_guard(netns_dir)
    inodes.pop("/proc/1/ns/net")  # unreadable /proc/1: still refused, not a named netns
    with pytest.raises(Failed, match="initial network namespace"):
        nft.check_guard(netns_dir)

    monkeypatch.setenv(nft.GUARD_ENV, "0")
    nft.check_guard(netns_dir)  # the daemon in production is not guarded


ROUTES = (
    # dest, plen, src, plen, next hop, metric, refcnt, use, flags, device
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 br0\n"
    # default via an RA router (RTF_UP|GATEWAY|DEFAULT|ADDRCONF|EXPIRES)
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000001 00000000 00450003 up0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000002 00000400 00000001 00000000 00450003 wan2\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000003 00000400 00000001 00000000 00450003 nm0\n"
)


def _with_interfaces(root: Path, **accept_ra: str) -> Path:
    for dev, value in accept_ra.items():
        (root / f"net/ipv6/conf/{dev}").mkdir(parents=True)
        (root / f"net/ipv6/conf/{dev}/accept_ra").write_text(value + "\n")
    routes = root.parent / "routes"
    routes.write_text(ROUTES)
    return routes


def test_ra_routes_get_accept_ra_2_before_ipv6_forwarding(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _proc(tmp_path / "sys")
    routes = _with_interfaces(root, br0="0", up0="1", wan2="2", nm0="0")
    assert sysctl.ra_route_interfaces(routes) == {"up0", "wan2", "nm0"}
    with caplog.at_level("WARNING"):
        assert sysctl.keep_ra_routes(root, routes) == ["net/ipv6/conf/up0/accept_ra"]
    assert (root / "net/ipv6/conf/up0/accept_ra").read_text().strip() == "2"
    assert (root / "net/ipv6/conf/nm0/accept_ra").read_text().strip() == "0"
    assert "up0" in caplog.text and "accept_ra=2" in caplog.text
    assert sysctl.keep_ra_routes(root, routes) == []  # nothing left to do


def test_enable_forwarding_keeps_ra_routes_only_for_ipv6(tmp_path: Path) -> None:
    root = _proc(tmp_path / "sys")
    (root.parent / "net").mkdir()
    _with_interfaces(root, up0="1").rename(root.parent / sysctl.IPV6_ROUTES)
    sysctl.enable_forwarding(CASES["nat"], root)  # IPv4 only: the uplink is left alone
    assert (root / "net/ipv6/conf/up0/accept_ra").read_text().strip() == "1"
    sysctl.enable_forwarding(CASES["nat-ipv6"], root)
    assert (root / "net/ipv6/conf/up0/accept_ra").read_text().strip() == "2"
    assert (root / sysctl.IPV6_FORWARD).read_text().strip() == "1"
