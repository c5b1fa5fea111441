"""Hints appended to dnsmasq start failures whose cause is outside the network's XML."""

from __future__ import annotations

from pathlib import Path

from vnetd.dnsmasq.hints import explain

# dnsmasq 2.90's words when its user has no inotify instance left (seen with 127
# networks running under the kernel's default limit of 128).
INOTIFY_WORDS = "dnsmasq: failed to create inotify: Too many open files"


def test_inotify_exhaustion_names_the_sysctl_and_its_value(tmp_path: Path) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    text = explain(INOTIFY_WORDS, instances_limit=limit)
    assert text.startswith(INOTIFY_WORDS)  # dnsmasq's own words first
    assert "fs.inotify.max_user_instances (now 128)" in text
    assert "raise it" in text


def test_unreadable_limit_still_names_the_sysctl(tmp_path: Path) -> None:
    text = explain(INOTIFY_WORDS, instances_limit=tmp_path / "missing")
    assert "fs.inotify.max_user_instances caps" in text


def test_other_failures_are_left_as_dnsmasq_wrote_them() -> None:
    words = "dnsmasq: failed to create listening socket for 10.0.0.1: Address in use"
    assert explain(words) == words
    assert explain("no message") == "no message"
