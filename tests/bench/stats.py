"""Summaries (median, p90) and the side-by-side table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p90: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary | None:
        if not samples:
            return None
        ordered = sorted(samples)
        if len(ordered) == 1:
            return cls(1, ordered[0], ordered[0])
        p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8]
        return cls(len(ordered), statistics.median(ordered), p90)


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(vnetd: Summary | None, libvirt: Summary | None) -> float | None:
    if vnetd is None or libvirt is None or libvirt.median == 0:
        return None
    return vnetd.median / libvirt.median


@dataclass(frozen=True)
class TableRow:
    label: str
    unit: str
    libvirt: Summary | None
    vnetd: Summary | None
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        r = ratio(self.vnetd, self.libvirt)
        met = "-" if self.met is None else ("yes" if self.met else "**no**")
        return [self.label, self.unit,
                fmt(self.libvirt.median) if self.libvirt else "-",
                fmt(self.libvirt.p90) if self.libvirt else "-",
                str(self.libvirt.n) if self.libvirt else "-",
                fmt(self.vnetd.median) if self.vnetd else "-",
                fmt(self.vnetd.p90) if self.vnetd else "-",
                str(self.vnetd.n) if self.vnetd else "-",
                "-" if r is None else f"{r:.2f}",
                self.target or "", met if self.target else ""]


HEADER = ["measurement", "unit", "libvirt median", "libvirt p90", "n", "vnetd median",
          "vnetd p90", "n", "vnetd/libvirt", "target", "met"]


def render(rows: Sequence[TableRow]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |",
             "|---|---|" + "---:|" * 7 + "---|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)
