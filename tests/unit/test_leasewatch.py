"""The lease watcher on a real inotify descriptor (a temporary directory, no network)."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from vnetd.leasewatch import IN_Q_OVERFLOW, LeaseWatcher

LEASE = "{expiry} 52:54:00:aa:bb:{n:02x} 10.9.0.{n} guest{n} *\n"


def _watches(watcher: LeaseWatcher) -> list[str]:
    """The watches the kernel holds for the watcher's descriptor (fdinfo lists each)."""
    assert watcher._fd is not None
    text = Path(f"/proc/self/fdinfo/{watcher._fd}").read_text()
    return [line for line in text.splitlines() if line.startswith("inotify wd:")]


async def _events_after_write(watcher: LeaseWatcher, events: list[tuple[str, str, str]],
                              path: Path, n: int) -> list[tuple[str, str, str]]:
    before = len(events)
    with path.open("a") as f:
        f.write(LEASE.format(expiry=4_000_000_000, n=n))
    await asyncio.sleep(0.2)  # the debounce is 20 ms
    return events[before:]


@pytest.mark.asyncio
async def test_reports_added_leases_and_unwatch_ends_events_before_stop(
        tmp_path: Path) -> None:
    events: list[tuple[str, str, str]] = []
    watcher = LeaseWatcher(tmp_path, lambda net, what, lease: events.append(
        (net, what, str(lease.ip))))
    watcher.start()
    try:
        path = tmp_path / "net1.leases"
        watcher.track("net1")
        assert len(_watches(watcher)) == 1
        assert await _events_after_write(watcher, events, path, 5) == [
            ("net1", "added", "10.9.0.5")]

        watcher.unwatch()
        # The watch is gone from the kernel while the descriptor stays open: its
        # release (an SRCU grace period) runs before stop() closes the descriptor.
        assert _watches(watcher) == []
        assert watcher._fd is not None and os.fstat(watcher._fd)
        assert await _events_after_write(watcher, events, path, 6) == []
        watcher.unwatch()  # twice is harmless
    finally:
        watcher.stop()
    assert watcher._fd is None
    watcher.unwatch()  # after stop too


@pytest.mark.asyncio
async def test_an_overflowed_queue_makes_every_network_read_again(tmp_path: Path) -> None:
    """When the kernel drops events (IN_Q_OVERFLOW, no file name), every followed
    network's file is read again, so no lease change goes unreported."""
    events: list[tuple[str, str, str]] = []
    watcher = LeaseWatcher(tmp_path, lambda net, what, lease: events.append(
        (net, what, str(lease.ip))))
    for n, network in enumerate(("a", "b"), start=1):
        watcher.track(network)
        (tmp_path / f"{network}.leases").write_text(LEASE.format(expiry=4_000_000_000, n=n))
    # What the kernel writes when its queue overflows: wd -1, the flag, no name. A pipe
    # stands in for the inotify descriptor (a real overflow needs 16384 queued events).
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    watcher._fd = read_end
    try:
        os.write(write_end, struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0))
        watcher._on_readable()
        await asyncio.sleep(0.2)  # the debounce is 20 ms
    finally:
        watcher._fd = None
        os.close(read_end)
        os.close(write_end)
    assert sorted(events) == [("a", "added", "10.9.0.1"), ("b", "added", "10.9.0.2")]
