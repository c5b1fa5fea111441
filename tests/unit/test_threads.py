"""vnetd.threads.in_daemon_thread: the result or the error comes back to the awaiting
task, from a daemon thread (one the process's exit does not wait for)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vnetd.threads import in_daemon_thread


def test_result_and_error_come_back_from_a_daemon_thread() -> None:
    seen: list[threading.Thread] = []

    def work(value: int) -> int:
        seen.append(threading.current_thread())
        return value * 2

    def fail() -> None:
        raise ValueError("refused")

    async def main() -> None:
        assert await in_daemon_thread(work, 21) == 42
        with pytest.raises(ValueError, match="refused"):
            await in_daemon_thread(fail)

    asyncio.run(main())
    assert seen[0] is not threading.main_thread() and seen[0].daemon


def test_a_thread_finishing_after_the_loop_closed_is_silent() -> None:
    release = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment,misc]

    def late() -> None:
        release.wait(5)
        done.set()

    async def main() -> None:
        in_daemon_thread(late)

    try:
        asyncio.run(main())
        release.set()
        assert done.wait(5)
        threading.Event().wait(0.05)  # let the thread try to deliver
    finally:
        threading.excepthook = previous
    assert errors == []
