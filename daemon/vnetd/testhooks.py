"""Fault injection for the crash-safety and rollback tests; inert unless a test enables it.

Nothing here acts unless ``VNETD_TEST_HOOKS=1`` is set in the daemon's environment, so
production runs pay one dictionary lookup per named step.

- ``VNETD_TEST_CRASH_AT=step[,step…]``: the process kills itself with SIGKILL when it
  reaches a named step (simulates a crash at that exact point). ``step@N`` crashes only
  the N-th time the step is reached (a step such as ``store-write-partial`` is also
  passed at daemon start-up, before the operation under test).
- ``VNETD_TEST_FAIL_AT=step[,step…]``: raise ``Failed`` at that step (simulates a
  refusal by the kernel, nftables or dnsmasq, to test rollback); ``step@N`` only the
  N-th time the step is reached.
- ``VNETD_TEST_HOLD_AT=step[,step…]``: an operation waits there for
  ``VNETD_TEST_HOLD_SECONDS`` (default 1) without blocking the daemon (a call kept in
  flight, to test what happens meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from .errors import Failed

_ENABLED = os.environ.get("VNETD_TEST_HOOKS") == "1"


def _steps(variable: str) -> frozenset[str]:
    if not _ENABLED:
        return frozenset()
    return frozenset(s for s in os.environ.get(variable, "").split(",") if s)


_passes: dict[str, dict[str, int]] = {"crash": {}, "fail": {}}


def _reached(kind: str, variable: str, step: str) -> bool:
    """Whether the test wants this pass of ``step`` (every pass, or ``step@N``)."""
    wanted = _steps(variable)
    passes = _passes[kind]
    count = passes[step] = passes.get(step, 0) + 1
    return step in wanted or f"{step}@{count}" in wanted


def maybe_crash(step: str) -> None:
    if _ENABLED and _reached("crash", "VNETD_TEST_CRASH_AT", step):
        os.kill(os.getpid(), signal.SIGKILL)


def maybe_fail(step: str) -> None:
    if _ENABLED and _reached("fail", "VNETD_TEST_FAIL_AT", step):
        raise Failed(f"injected failure at step {step!r}")


def checkpoint(step: str) -> None:
    """A named step of an operation: crash or fail here when a test asks for it."""
    maybe_crash(step)
    maybe_fail(step)


async def hold(step: str) -> None:
    """A named step of an operation where a test may keep it waiting."""
    if _ENABLED and step in _steps("VNETD_TEST_HOLD_AT"):
        logging.getLogger(__name__).info("test hook: holding at %s", step)
        await asyncio.sleep(float(os.environ.get("VNETD_TEST_HOLD_SECONDS", "1")))
