"""Tasks a stopping daemon does not wait for (``main._end_other_tasks``).

At exit what still runs is cancelled, and each call in flight is waited for so that it
rolls back. A loop that only waits and watches (a sleep, a reader, a child it has
killed) has nothing to roll back, and waiting until each had noticed its cancellation
took 0.3-0.6 ms of a ~5 ms stop (dev lab, 100 networks running). Such loops are started
here, under a name that says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "vnetd background: "


def start(work: Awaitable[T], what: str,
          loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[T]:
    """``work`` (a coroutine) as a task that an exiting daemon cancels without waiting
    for it."""
    task = asyncio.ensure_future(work, loop=loop)
    if not isinstance(task, asyncio.Task):
        raise TypeError(f"background work must be a coroutine, not {work!r}")
    task.set_name(PREFIX + what)
    return task


def is_background(task: asyncio.Future[Any]) -> bool:
    return isinstance(task, asyncio.Task) and task.get_name().startswith(PREFIX)
