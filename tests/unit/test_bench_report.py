"""The benchmark's derived rows, from recorded samples (pure arithmetic)."""

from __future__ import annotations

import pytest

from tests.bench.protocol import BenchConfig
from tests.bench.report import LIBVIRT_FIGURE_FOR, derive, rows_for, slope, table_rows


def test_slope_is_the_least_squares_rise_per_position() -> None:
    assert slope([5.0, 5.0, 5.0]) == 0
    assert slope([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.0)
    assert slope([10.0, 12.0]) == pytest.approx(2.0)
    # Every sample counts: one slow start at the end raises the line a little (by
    # 20 ms x its leverage), where the median of the last ten does not move at all.
    assert slope([20.0] * 99 + [40.0]) * 100 == pytest.approx(1.188, abs=0.001)


def test_growth_rows_come_from_the_start_series() -> None:
    starts = [20.0 + 0.05 * i for i in range(100)]  # 5 ms more per 100 networks
    derived = derive({"start_many": starts})
    assert derived["start_slope"] == [pytest.approx(5.0)]
    assert derived["start_growth_ms"] == [pytest.approx(4.5)]
    assert "start_slope" not in derive({"start_many": [20.0]})


def test_floor_rows_set_the_floor_against_libvirts_own_figure() -> None:
    results = {"libvirt": {"cold_start": [40.0, 44.0], "rss_idle": [19.0]},
               "vnetd": {"floor_cold_start": [80.0, 90.0], "floor_rss": [18.0],
                         "cold_start": [100.0]}}
    rows = {row.label: row for row in table_rows(BenchConfig(), results)}
    labels = {key: label for key, label, _unit, _target in rows_for(BenchConfig())}
    floor = rows[labels["floor_cold_start"]]
    assert floor.libvirt is not None and floor.libvirt.median == 42.0
    assert floor.vnetd is not None and floor.vnetd.median == 85.0
    rss = rows[labels["floor_rss"]]
    assert rss.libvirt is not None and rss.libvirt.median == 19.0
    # vnetd's own rows are untouched by the mapping.
    assert rows[labels["cold_start"]].vnetd.median == 100.0  # type: ignore[union-attr]
    # Every floor row has a libvirt figure to stand against, and it is a real row.
    keys = set(labels)
    assert {k for k in keys if k.startswith("floor")} == set(LIBVIRT_FIGURE_FOR)
    assert set(LIBVIRT_FIGURE_FOR.values()) <= keys
