"""vnetd.laps: the phase timings of the start, stop and start-up log lines."""

from __future__ import annotations

import re
import time

from vnetd.laps import Laps


def test_laps_name_each_phase_with_its_milliseconds() -> None:
    lap = Laps(digits=1)
    time.sleep(0.01)
    lap("checks")
    lap("bridge")
    assert re.fullmatch(r"checks \d+\.\d, bridge \d+\.\d", str(lap)), str(lap)
    assert float(lap.parts[0].split()[1]) >= 9.0
    whole = Laps()
    whole("imports")
    assert re.fullmatch(r"imports \d+", str(whole))
