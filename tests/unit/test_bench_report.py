"""The benchmark's derived rows, from recorded samples (pure arithmetic)."""

from __future__ import annotations

import pytest

from tests.bench.report import derive, slope


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
