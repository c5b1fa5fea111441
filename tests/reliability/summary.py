"""Figures the reliability tests collect, printed once at the end of the pytest run."""

from __future__ import annotations

from collections import Counter

counts: Counter[str] = Counter()
figures: dict[str, str] = {}
leaks: list[str] = []

LABELS = {
    "faults_injected": "faults injected (crash points, kills)",
    "faults_survived": "faults survived (consistent after restart)",
    "hostile_tried": "hostile inputs tried",
    "hostile_refused": "hostile inputs refused with a named error",
    "hostile_accepted_safely": "odd but legal inputs accepted and handled safely",
    "load_operations": "operations under load",
    "access_checks": "file owner/mode checks",
}


def add(key: str, n: int = 1) -> None:
    counts[key] += n


def figure(key: str, value: str) -> None:
    figures[key] = value


def leak(what: str) -> None:
    """Record a leak (a process, interface, rule or file left behind); must stay empty."""
    leaks.append(what)


def lines() -> list[str]:
    if not counts and not figures and not leaks:
        return []
    out = [f"{label}: {counts[key]}" for key, label in LABELS.items() if key in counts]
    out.extend(f"{key}: {value}" for key, value in sorted(figures.items()))
    out.append(f"leaks found: {len(leaks)}")
    out.extend(f"  leak: {item}" for item in leaks)
    return out
