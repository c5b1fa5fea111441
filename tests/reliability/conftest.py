"""Reliability tests reuse the integration fixtures (namespaces, private bus, daemon)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import private_bus, topology, vnetd_daemon  # noqa: F401
from tests.reliability import summary


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = summary.lines()
    if not lines:
        return
    terminalreporter.section("vnetd reliability summary")
    for line in lines:
        terminalreporter.write_line(line)
