"""The runner's all-or-nothing start, with fake backends (pure orchestration logic)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from vnetd.backends import BridgeState
from vnetd.dnsmasq.supervisor import DnsmasqStartError
from vnetd.errors import Conflict, Failed, InvalidArgument, NotSupported, VnetdError
from vnetd.firewall.foreign import ForeignDrop
from vnetd.model import Bridge, IpConfig, NetworkDefinition
from vnetd.runner import NetworkRunner, RuntimeFacts

DEF = NetworkDefinition(name="n", bridge=Bridge(name="vn0"),
                        ips=(IpConfig(address="10.1.0.1", prefix=24),))


class Log:
    def __init__(self) -> None:
        self.calls: list[str] = []


class FakeBridge:
    def __init__(self, log: Log, fail: Exception | None = None) -> None:
        self.log, self.fail = log, fail

    async def check_conflicts(self, definition: NetworkDefinition) -> None:
        self.log.calls.append("bridge.check")

    async def ensure(self, definition: NetworkDefinition) -> int:
        self.log.calls.append("bridge.ensure")
        if self.fail:
            raise self.fail
        return 7

    async def remove(self, bridge_name: str) -> None:
        self.log.calls.append("bridge.remove")

    async def inspect(self, bridge_name: str) -> BridgeState | None:
        return None

    async def clear_set_aside(self, known: frozenset[str] | None = None) -> list[str]:
        return []

    async def interface_names(self) -> set[str]:
        return set()

    async def close(self) -> None:
        self.log.calls.append("bridge.close")


class FakeFirewall:
    def __init__(self, log: Log, fail: Exception | None = None,
                 guard_fails: Exception | None = None) -> None:
        self.log, self.fail, self.guard_fails = log, fail, guard_fails

    def guard(self, definition: NetworkDefinition) -> None:
        self.log.calls.append("firewall.guard")
        if self.guard_fails:
            raise self.guard_fails

    def apply(self, definition: NetworkDefinition) -> None:
        self.log.calls.append("firewall.apply")
        if self.fail:
            raise self.fail

    def remove(self, network_name: str) -> None:
        self.log.calls.append("firewall.remove")

    def verify(self, definition: NetworkDefinition) -> bool:
        return True

    def verify_many(self, definitions: Sequence[NetworkDefinition]) -> dict[str, bool]:
        return {d.name: True for d in definitions}

    def installed_networks(self) -> set[str]:
        return set()

    def foreign_drops(self) -> list[ForeignDrop]:
        return []


class FakeDnsmasq:
    def __init__(self, log: Log, fail: Exception | None = None) -> None:
        self.log, self.fail = log, fail

    def needed(self, definition: NetworkDefinition) -> bool:
        return True

    async def start(self, definition: NetworkDefinition) -> int:
        self.log.calls.append("dnsmasq.start")
        if self.fail:
            raise self.fail
        return 1234

    async def stop(self, network_name: str) -> None:
        self.log.calls.append("dnsmasq.stop")

    async def reload(self, definition: NetworkDefinition) -> None:
        pass

    async def adopt(self, definition: NetworkDefinition, pid: int) -> bool:
        return True

    def pid(self, network_name: str) -> int | None:
        return None

    def set_exit_callback(self, callback: Callable[[str, int | None], None]) -> None:
        pass

    def set_restart_callback(self, callback: Callable[[str, int], None]) -> None:
        pass

    def close(self) -> None:
        self.log.calls.append("dnsmasq.close")


def _runner(log: Log, *, bridge: Exception | None = None, firewall: Exception | None = None,
            dnsmasq: Exception | None = None) -> NetworkRunner:
    return NetworkRunner(FakeBridge(log, bridge), FakeFirewall(log, firewall),
                         FakeDnsmasq(log, dnsmasq))


def test_start_builds_in_order() -> None:
    log = Log()
    facts = asyncio.run(_runner(log).start(DEF))
    assert (facts.bridge_ifindex, facts.dnsmasq_pid) == (7, 1234)
    # The guard is in place before dnsmasq binds; dnsmasq is spawned before the full
    # nftables transaction and waited for after it.
    assert log.calls == ["bridge.check", "bridge.ensure", "firewall.guard", "dnsmasq.start",
                         "firewall.apply"]


class NoDnsmasq(FakeDnsmasq):
    def needed(self, definition: NetworkDefinition) -> bool:
        return False


def test_a_network_without_dnsmasq_has_one_transaction() -> None:
    log = Log()
    asyncio.run(NetworkRunner(FakeBridge(log), FakeFirewall(log), NoDnsmasq(log)).start(DEF))
    assert log.calls == ["bridge.check", "bridge.ensure", "firewall.apply"]


def test_guard_failure_spawns_no_dnsmasq() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log, guard_fails=Conflict("in use")),
                           FakeDnsmasq(log))
    with pytest.raises(Conflict, match="failed at step firewall"):
        asyncio.run(runner.start(DEF))
    assert log.calls == ["bridge.check", "bridge.ensure", "firewall.guard", "firewall.remove",
                         "bridge.remove"]


@pytest.mark.parametrize(("where", "error", "expected", "undone"), [
    # A failing step cleans up after itself (a bridge ensure removes a bridge it made,
    # an nftables transaction is atomic); the runner undoes the steps before it.
    ("bridge", Failed("kernel says no"), Failed, []),
    # dnsmasq was started before the firewall: it is stopped, then the guard removed.
    ("firewall", Conflict("subnet in use"), Conflict,
     ["dnsmasq.stop", "firewall.remove", "bridge.remove"]),
    # A backend's own subclass with another constructor keeps its public error name. A
    # dnsmasq refused at once fails the start before the firewall is applied.
    ("dnsmasq", DnsmasqStartError("port 53 in use", 2), Failed,
     ["dnsmasq.stop", "firewall.remove", "bridge.remove"]),
    ("dnsmasq", NotSupported("no"), InvalidArgument,
     ["dnsmasq.stop", "firewall.remove", "bridge.remove"]),
])
def test_failed_step_undoes_what_was_built(where: str, error: Exception,
                                           expected: type[VnetdError],
                                           undone: list[str]) -> None:
    log = Log()
    runner = _runner(log, **{where: error})
    with pytest.raises(expected) as info:
        asyncio.run(runner.start(DEF))
    assert type(info.value) is expected
    assert f"failed at step {where}" in info.value.message
    assert str(error) in info.value.message
    failed_call = {"bridge": "bridge.ensure", "firewall": "firewall.apply",
                   "dnsmasq": "dnsmasq.start"}[where]
    assert log.calls[log.calls.index(failed_call) + 1:] == undone


class SlowDnsmasq(FakeDnsmasq):
    """A dnsmasq that takes a while to answer, as a real one does (~10 ms)."""

    async def start(self, definition: NetworkDefinition) -> int:
        self.log.calls.append("dnsmasq.start")
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.log.calls.append("dnsmasq.cancelled")
            raise
        if self.fail:
            raise self.fail
        self.log.calls.append("dnsmasq.ready")
        return 1234


def test_dnsmasq_starts_while_the_firewall_is_applied() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log), SlowDnsmasq(log))
    facts = asyncio.run(runner.start(DEF))
    assert facts.dnsmasq_pid == 1234
    assert log.calls == ["bridge.check", "bridge.ensure", "firewall.guard", "dnsmasq.start",
                         "firewall.apply", "dnsmasq.ready"]


def test_firewall_failure_ends_a_dnsmasq_still_starting() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log, Conflict("subnet in use")),
                           SlowDnsmasq(log))
    with pytest.raises(Conflict, match="failed at step firewall"):
        asyncio.run(runner.start(DEF))
    assert log.calls[log.calls.index("firewall.apply") + 1:] == [
        "dnsmasq.cancelled", "dnsmasq.stop", "firewall.remove", "bridge.remove"]


def test_dnsmasq_failing_after_the_firewall_undoes_everything() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log),
                           SlowDnsmasq(log, DnsmasqStartError("port 53 in use", 2)))
    with pytest.raises(Failed, match="failed at step dnsmasq"):
        asyncio.run(runner.start(DEF))
    # dnsmasq ends before its guard goes.
    assert log.calls[log.calls.index("firewall.apply") + 1:] == [
        "dnsmasq.stop", "firewall.remove", "bridge.remove"]


class SlowExitDnsmasq(FakeDnsmasq):
    """A dnsmasq that takes a while to exit after SIGTERM."""

    async def stop(self, network_name: str) -> None:
        self.log.calls.append("dnsmasq.stop")
        await asyncio.sleep(0.05)
        self.log.calls.append("dnsmasq.exited")
        if self.fail:
            raise self.fail


def test_stop_removes_firewall_and_bridge_while_dnsmasq_exits() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log), SlowExitDnsmasq(log))
    asyncio.run(runner.stop(DEF))
    assert log.calls == ["dnsmasq.stop", "firewall.remove", "bridge.remove", "dnsmasq.exited"]


def test_stop_keeps_going_past_failures_and_reports_them_all() -> None:
    log = Log()
    runner = NetworkRunner(FakeBridge(log), FakeFirewall(log),
                           SlowExitDnsmasq(log, Failed("dnsmasq would not die")))
    with pytest.raises(Failed) as info:
        asyncio.run(runner.stop(DEF))
    assert info.value.message == ("stopping network 'n': dnsmasq: dnsmasq would not die")
    assert set(log.calls) == {"dnsmasq.stop", "firewall.remove", "bridge.remove",
                              "dnsmasq.exited"}


def test_close_on_the_way_out_leaves_the_dnsmasq_watches_to_the_kernel() -> None:
    log = Log()
    asyncio.run(_runner(log).close())
    assert log.calls == ["dnsmasq.close", "bridge.close"]  # the loop may go on: let go
    log = Log()
    asyncio.run(_runner(log).close(exiting=True))
    # os._exit follows: 100 pidfds and loop readers are not taken down one by one (the
    # bridge backend still waits for its deletions in flight).
    assert log.calls == ["bridge.close"]


def test_repair_log_says_when(caplog: pytest.LogCaptureFixture) -> None:
    """Adoption and drift repair share their checks; the log says which one it was."""
    runner = _runner(Log())
    facts = RuntimeFacts(bridge_ifindex=7, dnsmasq_pid=1234)
    with caplog.at_level("WARNING", logger="vnetd.runner"):
        asyncio.run(runner.adopt(DEF, facts))
        asyncio.run(runner.repair(DEF, facts))
    assert [r.getMessage().rsplit(" ", 2)[-2:] for r in caplog.records] == [
        ["after", "restart"], ["while", "running"]]
