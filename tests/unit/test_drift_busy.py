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
from vnetd.manager import NetworkObject
from vnetd.model import NetworkDefinition
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
async def test_foreign_rules_are_looked_for_on_events_and_only_while_a_network_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_module, "FOREIGN_SETTLE", 0.01)
    drift, _recorder, idle, busy = _setup()
    listed: list[list[str]] = []

    def foreign_blockers(bridges: list[str]) -> dict[str, list[str]]:
        listed.append(list(bridges))  # each call lists every table's chains
        return {}

    drift.manager.runner.firewall.foreign_blockers = foreign_blockers
    drift.manager.set_problems = lambda obj, problems: None
    idle.active = busy.active = False
    task = asyncio.ensure_future(drift._foreign_loop())
    drift._foreign_due.set()  # what start() does
    await asyncio.sleep(0.05)
    assert listed == []  # nothing runs: nothing to report on
    idle.active = True
    drift.network_started(idle)
    await asyncio.sleep(0.05)
    assert len(listed) == 1
    await asyncio.sleep(0.05)
    assert len(listed) == 1  # no polling (the fallback is a minute)
    for _ in range(3):  # a burst of another firewall's changes: one look
        drift._foreign_due.set()
    await asyncio.sleep(0.05)
    assert len(listed) == 2
    task.cancel()
