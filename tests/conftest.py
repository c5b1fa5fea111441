"""Shared test policy: in CI a missing prerequisite fails the test, never skips it."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, what: str) -> None:
    """Skip locally, fail in CI, when a prerequisite (tool, privilege) is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing prerequisite: {what}")
    pytest.skip(f"missing prerequisite: {what}")


def require_tools(*tools: str) -> None:
    for tool in tools:
        require(shutil.which(tool) is not None, f"program {tool!r} not on PATH")


def require_root() -> None:
    require(os.geteuid() == 0, "root privileges (network namespaces, nftables)")
