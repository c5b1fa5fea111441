"""Work for a thread that must not hold up the daemon's exit."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_daemon_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``function(*args)`` in a thread of its own that the daemon's exit does not wait
    for. asyncio.to_thread's pool is joined when the loop shuts down: a SIGTERM right
    after a start waited ~60 ms for pyroute2's import to finish, and even an idle pool
    thread costs a wake-up and a join on the way out."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: exiting
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=work, name=f"vnetd-{function.__name__}", daemon=True).start()
    return future
