"""Free-form summary lines printed at the end of a pytest run (see conftest.py).

For suites whose line is not "N/M passed" (e.g. the firewall's "N/M equivalent, K
differ on purpose"). ``key`` lets a suite replace its line as cases finish.
"""

from __future__ import annotations

LINES: dict[str, str] = {}


def record_summary(line: str, key: str | None = None) -> None:
    LINES[key or line] = line
