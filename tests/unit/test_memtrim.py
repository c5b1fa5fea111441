"""vnetd.memtrim: one trim after each burst of garbage collections, none while idle."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from vnetd import memtrim

QUIET = 0.05


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return 0


async def settle(trimmer: memtrim.Trimmer) -> None:
    """Wait until the trimmer has nothing pending (its task finished)."""
    for _ in range(200):
        await asyncio.sleep(QUIET / 2)
        if trimmer._task is None or trimmer._task.done():
            return
    raise AssertionError("trimmer never went quiet")


@pytest.mark.asyncio
async def test_trims_once_after_start_up_and_once_per_burst() -> None:
    trim = Counter()
    trimmer = memtrim.Trimmer(asyncio.get_running_loop(), QUIET, trim)
    trimmer.install()
    try:
        await settle(trimmer)
        assert trim.calls == 1  # start-up counts as the first burst
        for _ in range(5):
            gc.collect()
        await settle(trimmer)
        assert trim.calls == 2  # five collections close together: one trim
        await asyncio.sleep(QUIET * 4)
        assert trim.calls == 2  # idle: nothing armed, nothing trimmed
        assert trimmer._task is not None and trimmer._task.done()
    finally:
        trimmer.uninstall()
    gc.collect()
    await asyncio.sleep(QUIET * 3)
    assert trim.calls == 2 and trimmer._on_gc not in gc.callbacks


@pytest.mark.asyncio
async def test_work_that_goes_on_postpones_the_trim() -> None:
    trim = Counter()
    quiet = 0.5  # long against the 0.05 s steps, so a loaded machine cannot break it
    trimmer = memtrim.Trimmer(asyncio.get_running_loop(), quiet, trim, longest=60)
    trimmer.install()
    try:
        await settle(trimmer)
        before = trim.calls
        for _ in range(20):  # busy for 2 x quiet, never quiet for that long
            gc.collect()
            await asyncio.sleep(0.05)
            assert trim.calls == before
        await settle(trimmer)
        assert trim.calls == before + 1
    finally:
        trimmer.uninstall()


@pytest.mark.asyncio
async def test_collections_in_other_threads_arm_it_too() -> None:
    trim = Counter()
    trimmer = memtrim.Trimmer(asyncio.get_running_loop(), QUIET, trim)
    trimmer.install()
    try:
        await settle(trimmer)
        worker = threading.Thread(target=gc.collect)
        worker.start()
        worker.join()
        await asyncio.sleep(QUIET / 4)  # the loop runs the armed callback
        await settle(trimmer)
        assert trim.calls == 2
    finally:
        trimmer.uninstall()


@pytest.mark.asyncio
async def test_install_uses_glibc_malloc_trim() -> None:
    trim = memtrim._glibc_trim()
    assert trim is not None  # Debian: glibc
    assert trim() in (0, 1)  # 1: memory was released, 0: there was none to release
    trimmer = memtrim.install(QUIET)
    try:
        assert memtrim.install() is trimmer
        await settle(trimmer)
        assert trimmer.trims == 1
    finally:
        memtrim.uninstall()


@pytest.mark.asyncio
async def test_work_that_never_pauses_is_trimmed_every_longest_seconds() -> None:
    trim = Counter()
    longest = 0.3
    trimmer = memtrim.Trimmer(asyncio.get_running_loop(), 10.0, trim, longest=longest)
    trimmer.install()
    began = time.monotonic()
    try:
        for _ in range(30):  # >= 1.5 s of work with no 10 s pause: trims come from longest
            gc.collect()
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
        # At least one per ``longest`` of work (minus the rounds in progress), and never
        # more often than that, however slowly a loaded machine ran the loop.
        assert 2 <= trim.calls <= elapsed / longest + 1, (trim.calls, elapsed)
    finally:
        trimmer.uninstall()
