"""The drift watches start with the first running network, and one check of the running
networks follows once they listen (scheduling only: stand-ins for the watches, the
kernel's answers and the runner; the real ones are exercised by
tests/reliability/test_drift_repair.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from vnetd import drift as drift_module
from vnetd.drift import DriftRepair
from vnetd.manager import NetworkObject
from vnetd.model import NetworkDefinition
from vnetd.runner import RuntimeFacts


class Watches:
    def __init__(self) -> None:
        self.firewall = 0
        self.bridge = 0

    async def firewall_watch(self, on_burst: Any, *, started: asyncio.Event | None = None,
                             on_other_tables: Any = None) -> None:
        self.firewall += 1
        assert started is not None
        started.set()
        await asyncio.Event().wait()  # until cancelled

    async def bridge_watch(self, callback: Any, ready: Any = None) -> None:
        self.bridge += 1
        await asyncio.sleep(0.02)  # binding takes a moment
        ready()
        await asyncio.Event().wait()


class Kernel:
    """What the checks read: rules intact per network, bridges' ifindex per network."""

    def __init__(self) -> None:
        self.rules_broken: set[str] = set()
        self.bridges: dict[str, int] = {}
        self.checked: list[list[str]] = []

    def verify_many(self, definitions: list[NetworkDefinition]) -> dict[str, bool]:
        self.checked.append([d.name for d in definitions])
        return {d.name: d.name not in self.rules_broken for d in definitions}

    async def intact(self, definitions: list[NetworkDefinition]) -> dict[str, int]:
        return {d.name: self.bridges[d.name] for d in definitions if d.name in self.bridges}


def _setup(*active: bool, watches: Watches | None = None
           ) -> tuple[DriftRepair, Watches, list[NetworkObject], list[str], Kernel]:
    repaired: list[str] = []
    kernel = Kernel()

    async def repair(definition: NetworkDefinition, facts: RuntimeFacts) -> RuntimeFacts:
        repaired.append(definition.name)
        return facts

    networks = [NetworkObject(definition=NetworkDefinition(name=f"n{i}"), persistent=True,
                              active=on, facts=RuntimeFacts(bridge_ifindex=i, dnsmasq_pid=None))
                for i, on in enumerate(active)]
    kernel.bridges = {o.name: i for i, o in enumerate(networks)}
    manager: Any = SimpleNamespace(
        networks={o.name: o for o in networks},
        runner=SimpleNamespace(
            firewall=SimpleNamespace(foreign_drops=lambda: [],
                                     verify_many=kernel.verify_many),
            bridge=SimpleNamespace(intact=kernel.intact), repair=repair),
        save_running_status=lambda obj: None, notify_repaired=lambda obj, parts: None,
        set_problems=lambda obj, problems: None)
    watches = watches or Watches()
    drift = DriftRepair(manager, firewall_watch=watches.firewall_watch,
                        bridge_watch=watches.bridge_watch)
    return drift, watches, networks, repaired, kernel


@pytest.mark.asyncio
async def test_no_watch_until_a_network_starts_then_one_check_once_they_listen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_module, "SUBSCRIBE_GRACE", 0.01)
    drift, watches, (first, other), repaired, kernel = _setup(False, False)
    drift.start()
    await asyncio.sleep(0.05)
    assert (watches.firewall, watches.bridge) == (0, 0)

    first.active = True
    drift.network_started(first)
    await asyncio.sleep(0.01)
    assert (watches.firewall, watches.bridge) == (1, 1)
    assert kernel.checked == []  # the bridge watch does not listen yet
    await asyncio.sleep(0.1)
    assert kernel.checked == [["n0"]]  # once both listen: what they may have missed
    assert repaired == []  # intact

    other.active = True
    drift.network_started(other)  # started while the watches listen: nothing more
    await asyncio.sleep(0.1)
    assert (watches.firewall, watches.bridge) == (1, 1)
    assert kernel.checked == [["n0"]]
    await drift.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("broken", ["rules", "bridge gone", "bridge recreated"])
async def test_what_broke_before_the_watches_listened_is_repaired(
        monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    monkeypatch.setattr(drift_module, "SUBSCRIBE_GRACE", 0.01)
    drift, _watches, (first, other), repaired, kernel = _setup(False, False)
    drift.start()
    first.active = other.active = True
    if broken == "rules":
        kernel.rules_broken.add("n1")
    elif broken == "bridge gone":
        del kernel.bridges["n1"]
    else:
        kernel.bridges["n1"] = 77
    drift.network_started(first)
    await asyncio.sleep(0.15)
    assert repaired == ["n1"]
    await drift.stop()


@pytest.mark.asyncio
async def test_watches_start_at_once_when_networks_run() -> None:
    drift, watches, networks, _repaired, kernel = _setup(True, False)
    drift.start()
    await asyncio.sleep(0.1)
    assert (watches.firewall, watches.bridge) == (1, 1)
    assert kernel.checked == []  # adoption at daemon start has just checked them
    await drift.stop()
    drift.network_started(networks[0])  # after stop: nothing starts
    await asyncio.sleep(0.01)
    assert (watches.firewall, watches.bridge) == (1, 1)


class SlowToEnd(Watches):
    """A firewall watch whose clean-up, like the real one's, kills the monitor and then
    waits for the process to end (here: until ``reaped`` is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []
        self.reaped = asyncio.Event()

    async def firewall_watch(self, on_burst: Any, *, started: asyncio.Event | None = None,
                             on_other_tables: Any = None) -> None:
        try:
            await super().firewall_watch(on_burst, started=started,
                                         on_other_tables=on_other_tables)
        finally:
            self.steps.append("killed")
            await self.reaped.wait()
            self.steps.append("reaped")


@pytest.mark.asyncio
async def test_a_stop_before_the_process_exits_kills_the_monitor_without_waiting() -> None:
    watches = SlowToEnd()
    drift, _watches, _networks, _repaired, _kernel = _setup(True, watches=watches)
    drift.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(drift.stop(exiting=True), 1)
    assert watches.steps == ["killed"]


@pytest.mark.asyncio
async def test_a_stop_that_goes_on_running_waits_for_the_monitor_to_end() -> None:
    watches = SlowToEnd()
    drift, _watches, _networks, _repaired, _kernel = _setup(True, watches=watches)
    drift.start()
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(drift.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done() and watches.steps == ["killed"]
    watches.reaped.set()
    await asyncio.wait_for(stopping, 1)
    assert watches.steps == ["killed", "reaped"]


class FailingAtOnce(Watches):
    """An ``nft monitor`` that ends as soon as it starts (nft missing), ``fails`` times,
    then runs; records when each attempt began."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails = fails
        self.began: list[float] = []

    async def firewall_watch(self, on_burst: Any, *, started: asyncio.Event | None = None,
                             on_other_tables: Any = None) -> None:
        self.began.append(asyncio.get_running_loop().time())
        if len(self.began) <= self.fails:
            return
        await super().firewall_watch(on_burst, started=started,
                                     on_other_tables=on_other_tables)


@pytest.mark.asyncio
async def test_a_watch_that_ends_is_started_again_ever_later_and_checked_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_module, "WATCH_RESTART_DELAY", 0.02)
    monkeypatch.setattr(drift_module, "WATCH_RESTART_MAX", 0.08)
    monkeypatch.setattr(drift_module, "WATCH_START_TIMEOUT", 0.01)
    watches = FailingAtOnce(fails=4)
    drift, _watches, _networks, _repaired, kernel = _setup(True, watches=watches)
    drift.start()
    await asyncio.sleep(0.5)
    assert len(watches.began) == 5 and watches.firewall == 1  # the fifth one runs
    pauses = [b - a for a, b in zip(watches.began, watches.began[1:], strict=False)]
    # 0.02, 0.04, 0.08, then capped at 0.08
    for pause, wanted in zip(pauses, [0.02, 0.04, 0.08, 0.08], strict=True):
        assert wanted <= pause < wanted + 0.05, pauses
    # What nobody watched meanwhile was looked for once, when a watch listened again
    # (not once per attempt that never listened).
    assert kernel.checked == [["n0"]]
    await drift.stop()
