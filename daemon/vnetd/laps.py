"""Milliseconds per phase of one piece of work, for the debug and ready log lines."""

from __future__ import annotations

import time


class Laps:
    """``laps("name")`` records the time since the previous call (or creation) as
    ``"name 12"``; ``str(laps)`` joins them: ``"checks 3.2, bridge 9.8"``."""

    def __init__(self, digits: int = 0) -> None:
        self.parts: list[str] = []
        self._digits = digits
        self._last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.parts.append(f"{name} {(now - self._last) * 1000:.{self._digits}f}")
        self._last = now

    def __str__(self) -> str:
        return ", ".join(self.parts)
