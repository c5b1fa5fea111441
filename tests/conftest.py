"""Shared test policy: a missing prerequisite fails the test, never skips it.

The test command installs every tool it needs and runs as root, so a missing one is a
broken setup to report, in CI or not. Only a developer who asks for it (e.g. running the
unit tests unprivileged) gets skips: ``VNETD_TESTS_ALLOW_SKIP=1``. Failing by default,
rather than only when a ``CI`` variable is set, keeps a CI runner that does not set it
from turning missing tools into silent skips."""

from __future__ import annotations

import os
import shutil
import signal
from types import FrameType

import pytest

ALLOW_SKIP = os.environ.get("VNETD_TESTS_ALLOW_SKIP") == "1"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A SIGTERM (a CI timeout, kill) ends the session as Ctrl-C does, and pytest then runs
    # every fixture's teardown: the namespaces, buses, daemons and dnsmasqs the tests made
    # are removed. By default the process ended at once and left all of them behind.
    signal.signal(signal.SIGTERM, _interrupt)


def require(condition: bool, what: str) -> None:
    """Fail (skip only when VNETD_TESTS_ALLOW_SKIP=1) when a prerequisite is missing."""
    if condition:
        return
    if not ALLOW_SKIP:
        pytest.fail(f"missing prerequisite: {what}")
    pytest.skip(f"missing prerequisite: {what}")


def require_tools(*tools: str) -> None:
    for tool in tools:
        require(shutil.which(tool) is not None, f"program {tool!r} not on PATH")


def require_root() -> None:
    require(os.geteuid() == 0, "root privileges (network namespaces, nftables)")
