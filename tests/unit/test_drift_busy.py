"""Drift checks skip a network while an operation holds it, and check it right after.

Pure scheduling logic: the manager and runner are stand-ins recording calls (the real
ones are exercised by tests/reliability/test_drift_repair.py and test_load.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from vnetd import drift as drift_module
from vnetd.drift import DriftRepair
from vnetd.firewall.foreign import ForeignDrop
from vnetd.manager import NetworkObject
from vnetd.model import Bridge, NetworkDefinition
from vnetd.runner import RuntimeFacts


class Recorder:
    def __init__(self) -> None:
        self.verified: list[list[str]] = []
        self.repaired: list[str] = []
        self.intact = True

    def verify_many(self, definitions: list[NetworkDefinition]) -> dict[str, bool]:
        self.verified.append([d.name for d in definitions])
        return {d.name: self.intact for d in definitions}

    async def repair(self, definition: NetworkDefinition, facts: RuntimeFacts) -> RuntimeFacts:
        self.repaired.append(definition.name)
        return facts


def _setup() -> tuple[DriftRepair, Recorder, NetworkObject, NetworkObject]:
    recorder = Recorder()
    idle = NetworkObject(definition=NetworkDefinition(name="idle"), persistent=True,
                         active=True, facts=RuntimeFacts(bridge_ifindex=1, dnsmasq_pid=None))
    busy = NetworkObject(definition=NetworkDefinition(name="busy"), persistent=True,
                         active=True, facts=RuntimeFacts(bridge_ifindex=2, dnsmasq_pid=None))
    manager: Any = SimpleNamespace(
        networks={"idle": idle, "busy": busy},
        runner=SimpleNamespace(firewall=recorder, repair=recorder.repair),
        save_running_status=lambda obj: None, notify_repaired=lambda obj, parts: None)
    drift = DriftRepair(manager, firewall_watch=None, bridge_watch=None)
    return drift, recorder, idle, busy


@pytest.mark.asyncio
async def test_a_busy_network_is_checked_after_its_operation() -> None:
    drift, recorder, _idle, busy = _setup()
    await busy.lock.acquire()  # a start, stop or update in flight
    drift._on_nft_burst([{"add": {"rule": {}}}])
    assert recorder.verified == [["idle"]]  # not the busy one: it is half done
    drift._on_nft_burst([{"add": {"rule": {}}}])  # a second burst meanwhile: one recheck
    await asyncio.sleep(0.01)
    assert recorder.verified == [["idle"], ["idle"]]
    busy.lock.release()
    await asyncio.sleep(0.01)
    assert recorder.verified == [["idle"], ["idle"], ["busy"]]
    assert recorder.repaired == []  # intact


@pytest.mark.asyncio
async def test_a_busy_network_found_broken_afterwards_is_repaired() -> None:
    drift, recorder, _idle, busy = _setup()
    await busy.lock.acquire()
    drift._on_nft_burst([{"delete": {"chain": {}}}])
    recorder.intact = False  # what the operation left is broken (someone else's change)
    recorder.verified.clear()
    busy.lock.release()
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert recorder.verified == [["busy"]]
    assert recorder.repaired == ["busy"]


@pytest.mark.asyncio
async def test_a_network_stopped_by_the_operation_is_not_checked() -> None:
    drift, recorder, _idle, busy = _setup()
    await busy.lock.acquire()
    drift._on_nft_burst([{"delete": {"chain": {}}}])
    recorder.verified.clear()
    busy.active = False  # the operation was a Destroy
    busy.lock.release()
    await asyncio.sleep(0.01)
    assert recorder.verified == [] and recorder.repaired == []


@pytest.mark.asyncio
async def test_foreign_rules_are_listed_when_they_may_have_changed_and_only_while_a_network_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_module, "FOREIGN_SETTLE", 0.01)
    drift, _recorder, idle, busy = _setup()
    idle.definition = NetworkDefinition(name="idle", bridge=Bridge(name="vnb1"))
    busy.definition = NetworkDefinition(name="busy", bridge=Bridge(name="vnb2"))
    listings = 0
    docker = ForeignDrop("ip", "filter", "FORWARD", "forward", 0)

    def foreign_drops() -> list[ForeignDrop]:
        nonlocal listings
        listings += 1  # each call lists every table's chains
        return [docker]

    problems: dict[str, tuple[str, ...]] = {}

    def set_problems(obj: NetworkObject, found: tuple[str, ...]) -> None:
        obj.problems = found
        problems[obj.name] = found

    drift.manager.runner.firewall.foreign_drops = foreign_drops
    drift.manager.set_problems = set_problems
    idle.active = busy.active = False
    task = asyncio.ensure_future(drift._foreign_loop())
    drift._foreign_due.set()  # what start() does
    await asyncio.sleep(0.05)
    assert listings == 0  # nothing runs: nothing to report on
    idle.active = True
    drift.network_started(idle)
    await asyncio.sleep(0.05)
    assert listings == 1
    assert problems["idle"] == (f"firewall: {docker.describe(('vnb1',))}",)
    await asyncio.sleep(0.05)
    assert listings == 1  # no polling (the fallback is a minute)
    # Another start: nothing changed in other tables, the last listing answers for it.
    busy.active = True
    drift.network_started(busy)
    await asyncio.sleep(0.05)
    assert listings == 1
    assert problems["busy"] == (f"firewall: {docker.describe(('vnb2',))}",)
    for _ in range(3):  # a burst of another firewall's changes: one listing
        drift._other_tables()
    await asyncio.sleep(0.05)
    assert listings == 2
    task.cancel()
