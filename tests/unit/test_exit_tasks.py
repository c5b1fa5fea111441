"""What an exiting daemon waits for: a call in flight, cancelled, rolls back before the
process ends; a background loop (``vnetd.background``) is cancelled and not waited for."""

from __future__ import annotations

import asyncio

from vnetd import background
from vnetd.main import _end_other_tasks


def test_calls_in_flight_roll_back_background_loops_are_not_waited_for() -> None:
    events: list[str] = []

    async def call_in_flight() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # undoing takes a few passes of the loop
            events.append("call rolled back")
            raise

    async def watch_loop() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # e.g. reaping a child it has killed
            events.append("loop ended")
            raise

    async def main() -> tuple[bool, bool]:
        call = asyncio.ensure_future(call_in_flight())
        loop_task = background.start(watch_loop(), "test watch")
        await asyncio.sleep(0)
        await _end_other_tasks()
        return call.done(), loop_task.done()

    call_done, loop_done = asyncio.run(main())
    assert call_done and events[0] == "call rolled back"
    assert not loop_done  # cancelled, left to the process's end


def test_background_tasks_are_named_so() -> None:
    async def main() -> tuple[bool, bool]:
        async def nothing() -> None:
            return None

        marked = background.start(nothing(), "x")
        plain = asyncio.ensure_future(nothing())
        await asyncio.gather(marked, plain)
        return background.is_background(marked), background.is_background(plain)

    assert asyncio.run(main()) == (True, False)
