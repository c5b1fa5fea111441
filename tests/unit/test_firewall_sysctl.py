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
