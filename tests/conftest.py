"""Shared test policy: a missing prerequisite fails the test, never skips it.

The test command installs every tool it needs and runs as root, so a missing one is a
broken setup to report, in CI or not. Only a developer who asks for it (e.g. running the
unit tests unprivileged) gets skips: ``VNETD_TESTS_ALLOW_SKIP=1``. Failing by default,
rather than only when a ``CI`` variable is set, keeps a CI runner that does not set it
from turning missing tools into silent skips."""

from __future__ import annotations

import os
import shutil

import pytest

ALLOW_SKIP = os.environ.get("VNETD_TESTS_ALLOW_SKIP") == "1"


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
