"""Counts conformance cases and prints one summary line per suite at the end of the run.

A test joins a suite with ``record_property("conformance", "<suite>")`` (and
``record_property("unsupported", True)`` for a case declared unsupported).
"""

from __future__ import annotations

import pytest

from tests.conformance.corpus import TALLIES, Tally
from tests.conformance.summary import LINES as SUMMARY_LINES

SHOWS_UNSUPPORTED = {"xml2xml"}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    props = dict(report.user_properties)
    suite = props.get("conformance")
    if not isinstance(suite, str):
        return
    tally = TALLIES.setdefault(suite, Tally(show_unsupported=suite in SHOWS_UNSUPPORTED))
    if report.skipped:
        return
    tally.total += 1
    if props.get("unsupported"):
        tally.unsupported += 1
    elif report.passed:
        tally.passed += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for suite, tally in sorted(TALLIES.items()):
        terminalreporter.write_line(tally.line(suite))
    for line in SUMMARY_LINES.values():
        terminalreporter.write_line(line)
