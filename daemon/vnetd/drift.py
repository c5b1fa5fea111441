"""Self-healing: notice when something else breaks a running network, and put it right.

Sources, none of which polls the kernel state of every network:
- nftables: ``nft monitor`` reports every change another process makes to vnetd's table;
  after a burst the watcher lists the table once and repairs the networks whose rules
  are gone (a ``nft flush ruleset``, a firewall service restart, a deleted chain);
- netlink: link and address events report a bridge or one of its addresses removed;
- forwarding: the sysctls have no change notification, so one small file read per second
  checks them (the only periodic check, and it costs microseconds);
- foreign tables that would drop our guests' traffic (Docker's FORWARD policy DROP, ufw)
  are listed when the monitor starts or reports another process changing another table
  (and once a minute, in case the monitor is gone), and reported in each running
  network's ``Problems`` with the fix, a starting network's from the last listing;
  vnetd does not change other tables.

A repair runs under the network's lock, so it never races a start, stop or update.
The two event sources run only once a network does (a daemon with none has no
``nft monitor`` child and does not load pyroute2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import background
from .manager import Manager, NetworkObject

if TYPE_CHECKING:
    from .firewall.foreign import ForeignDrop

log = logging.getLogger(__name__)

class FirewallWatch(Protocol):
    """``vnetd.firewall.watch.watch``: ``started`` is set once the monitor runs."""

    def __call__(self, on_burst: Callable[[list[Any]], None], *,
                 started: asyncio.Event | None = None,
                 on_other_tables: Callable[[], None] | None = None) -> Awaitable[None]: ...


class BridgeWatch(Protocol):
    """``NetlinkBridge.watch``: ``ready`` is called once its socket listens."""

    def __call__(self, callback: Callable[[Any], None],
                 ready: Callable[[], Awaitable[None] | None] | None = None
                 ) -> Awaitable[None]: ...


AffectedNetworks = Callable[[list[Any], Collection[str]], set[str] | None]
"""From a burst of firewall events: which of these networks they touched (None: all)."""

FORWARDING_KEYS = {4: "net/ipv4/ip_forward", 6: "net/ipv6/conf/all/forwarding"}
FOREIGN_FALLBACK_INTERVAL = 60.0  # foreign rules are looked for on events; this if none
FOREIGN_SETTLE = 0.5
WATCH_START_TIMEOUT = 5.0
WATCH_RESTART_DELAY = 0.5  # seconds before a failed watch is started again …
WATCH_RESTART_MAX = 30.0  # … doubling while it fails at once, up to this
SUBSCRIBE_GRACE = 0.1  # nft monitor subscribes to the kernel's events just after it runs


class DriftRepair:
    def __init__(self, manager: Manager, *, firewall_watch: FirewallWatch | None,
                 affected_networks: AffectedNetworks | None = None,
                 bridge_watch: BridgeWatch | None, sysctl_root: Path = Path("/proc/sys"),
                 forwarding_interval: float = 1.0) -> None:
        self.manager = manager
        self.firewall_watch = firewall_watch
        self.affected_networks = affected_networks
        self.bridge_watch = bridge_watch
        self.sysctl_root = sysctl_root
        self.forwarding_interval = forwarding_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._queued: set[str] = set()
        self._rechecks: set[str] = set()
        self._repair_tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._watching = False
        self._foreign_due = asyncio.Event()
        # Other tables' drop chains, as last listed; listed again only when they may
        # have changed. With 100 networks a listing is ~2 ms of libnftables (every chain
        # of vnetd's table comes with it), once per start before this.
        self._foreign: list[ForeignDrop] = []
        self._foreign_stale = True
        self.repairs = 0

    def start(self) -> None:
        """The periodic checks start now; the kernel watches (an ``nft monitor`` process,
        a netlink socket and pyroute2: ~4 MB of daemon memory and a process) only while
        there is something to watch: now if a network runs, else with the first start
        (``network_started``)."""
        self._running = True
        self._foreign_due.set()
        self._tasks.append(asyncio.ensure_future(self._forwarding_loop()))
        self._tasks.append(asyncio.ensure_future(self._foreign_loop()))
        if self._active():
            self._watch(catch_up=False)

    def network_started(self, obj: NetworkObject) -> None:
        """The manager's hook for every start: the first one starts the watches; each
        has its bridge looked for in other tables' drop rules (as last listed)."""
        self._foreign_due.set()
        if self._running and not self._watching:
            self._watch(catch_up=True)

    def _watch(self, *, catch_up: bool) -> None:
        self._watching = True
        # Nothing reported other tables' changes until now. The listing comes
        # FOREIGN_SETTLE after this, when the monitor, which runs in milliseconds,
        # reports changes made after it (and the minute's fallback catches any miss).
        self._foreign_stale = True
        listening: list[asyncio.Event] = []
        firewall_watch, bridge_watch = self.firewall_watch, self.bridge_watch
        if firewall_watch is not None:
            started = asyncio.Event()
            listening.append(started)
            self._tasks.append(background.start(self._keep_watching(
                "nft monitor", lambda started: firewall_watch(
                    self._on_nft_burst, started=started,
                    on_other_tables=self._other_tables), started), "nft monitor"))
        if bridge_watch is not None:
            ready = asyncio.Event()
            listening.append(ready)
            self._tasks.append(asyncio.ensure_future(self._keep_watching(
                "bridge watch", lambda ready: bridge_watch(self._on_bridge_event, ready.set),
                ready)))
        if catch_up:
            self._tasks.append(asyncio.ensure_future(self._catch_up(listening)))

    async def _keep_watching(self, what: str,
                             run: Callable[[asyncio.Event], Awaitable[None]],
                             ready: asyncio.Event) -> None:
        """Run a watch (``ready`` set once it listens) until cancelled, starting it again
        when it fails or ends: an ``nft monitor`` killed by someone, a netlink socket
        error. Without it nothing would repair vnetd's rules, bridges or addresses, nor
        isolate or guard joining ports, and nobody would know. The pause doubles while
        the watch keeps failing at once (nft missing), up to WATCH_RESTART_MAX."""
        delay = WATCH_RESTART_DELAY
        catch_up: asyncio.Task[None] | None = None
        while True:
            began = time.monotonic()
            try:
                await run(ready)
                log.error("%s ended, starting it again", what)
            except Exception as exc:
                log.error("%s failed, starting it again: %s", what, exc)
            if catch_up is not None:
                catch_up.cancel()  # if still waiting or checking: the next one does it all
            if time.monotonic() - began > WATCH_RESTART_MAX:
                delay = WATCH_RESTART_DELAY  # it ran a while: an accident, not a pattern
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_RESTART_MAX)
            # What nobody saw meanwhile is looked for once the new watch listens.
            ready = asyncio.Event()
            catch_up = asyncio.ensure_future(self._catch_up([ready]))
            # Pruned here: a watch failing every 30 s for months must not grow the list.
            self._tasks = [task for task in self._tasks if not task.done()]
            self._tasks.append(catch_up)

    async def _catch_up(self, listening: list[asyncio.Event]) -> None:
        """The network that started the watches ran before they listened: what the
        watches would have seen meanwhile (rules, bridge or address gone) is looked for
        once they listen, in one listing of the rules and one of the links."""
        for event in listening:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_START_TIMEOUT):
                    await event.wait()
        await asyncio.sleep(SUBSCRIBE_GRACE)
        # A network in the middle of an operation is left to it: it ends built or gone.
        idle = [o for o in self._active() if not o.lock.locked() and o.facts is not None]
        if not idle:
            return
        runner = self.manager.runner
        try:
            rules = runner.firewall.verify_many(
                [o.definition for o in idle if o.definition.mode != "open"])
            bridges = await runner.bridge.intact([o.definition for o in idle])
        except Exception as exc:
            log.error("cannot check the running networks: %s", exc)
            return
        for obj in idle:
            assert obj.facts is not None
            if not rules.get(obj.name, True):
                self.schedule(obj, "nftables rules changed")
            elif bridges.get(obj.name) != obj.facts.bridge_ifindex:
                self.schedule(obj, f"bridge {obj.definition.bridge_name} changed")

    async def stop(self, *, exiting: bool = False) -> None:
        """Stop the checks and the watches. ``exiting``: the process ends right after
        (``os._exit``). The watches are then cancelled and given one pass of the loop,
        in which the ``nft monitor`` gets its SIGKILL, but not waited for: its end (its
        teardown, then the child watcher's thread) took ~0.7 ms of a daemon stop, and
        once the daemon is gone the kernel hands the process to init to reap."""
        self._running = False
        for task in self._tasks:
            task.cancel()
        if exiting:
            await asyncio.sleep(0)
        else:
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        self._watching = False

    # -- triggers ---------------------------------------------------------------------

    def _active(self) -> list[NetworkObject]:
        return [o for o in self.manager.networks.values() if o.active]

    def _on_nft_burst(self, events: list[Any]) -> None:
        active = [o for o in self._active() if o.definition.mode != "open"]
        touched = (self.affected_networks(events, [o.name for o in active])
                   if self.affected_networks else None)
        check = []
        for obj in active:
            if touched is not None and obj.name not in touched:
                continue
            if obj.lock.locked():
                self._recheck_when_free(obj)
            else:
                check.append(obj)
        if not check:
            return
        try:
            intact = self.manager.runner.firewall.verify_many([o.definition for o in check])
        except Exception as exc:
            log.error("cannot check vnetd's nftables rules: %s", exc)
            return
        for obj in check:
            if not intact.get(obj.name, True):
                self.schedule(obj, "nftables rules changed")

    def _on_bridge_event(self, event: Any) -> None:
        for obj in self._active():
            if obj.definition.bridge_name == event.bridge:
                self.schedule(obj, f"bridge {event.bridge}: {event.what}")

    async def _forwarding_loop(self) -> None:
        while True:
            await asyncio.sleep(self.forwarding_interval)
            off = {v for v, key in FORWARDING_KEYS.items() if self._read(key) == "0"}
            if not off:
                continue
            for obj in self._active():
                if obj.definition.mode in ("nat", "route") and any(
                        obj.definition.ips_of(v) for v in off):
                    self.schedule(obj, "IP forwarding switched off")

    def _read(self, key: str) -> str | None:
        try:
            return (self.sysctl_root / key).read_text().strip()
        except OSError:
            return None

    def _other_tables(self) -> None:
        self._foreign_stale = True
        self._foreign_due.set()

    async def _foreign_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(FOREIGN_FALLBACK_INTERVAL):
                    await self._foreign_due.wait()
            except TimeoutError:
                self._foreign_stale = True
            # One check for a burst of starts or of another firewall's changes.
            await asyncio.sleep(FOREIGN_SETTLE)
            self._foreign_due.clear()
            active = self._active()
            if not active:  # nothing to report on: no listing of the whole ruleset
                continue
            if self._foreign_stale:
                self._foreign_stale = False
                try:
                    self._foreign = self.manager.runner.firewall.foreign_drops()
                except Exception as exc:
                    log.debug("foreign rule check failed: %s", exc)
                    self._foreign, self._foreign_stale = [], True
            for obj in active:
                bridge = (obj.definition.bridge_name or "",)
                blockers = tuple(f"firewall: {drop.describe(bridge)}" for drop in self._foreign)
                others = tuple(p for p in obj.problems if not p.startswith("firewall:"))
                for line in set(blockers) - set(obj.problems):
                    log.warning("network %s: %s", obj.name, line)
                self.manager.set_problems(obj, others + blockers)

    def _recheck_when_free(self, obj: NetworkObject) -> None:
        """A start, stop or update of this network is in flight, and its own transaction
        is most likely what the burst reports: a check now would find it half done and
        report drift that is not there (under the load test's churn, ~80 such reports
        in 30 s). Check once the operation is over instead."""
        if obj.name in self._rechecks:
            return
        self._rechecks.add(obj.name)
        task = asyncio.ensure_future(self._recheck(obj))
        self._repair_tasks.add(task)
        task.add_done_callback(self._repair_tasks.discard)

    async def _recheck(self, obj: NetworkObject) -> None:
        try:
            async with obj.lock:
                self._rechecks.discard(obj.name)
                if obj.removed or not obj.active:
                    return
                intact = self.manager.runner.firewall.verify_many([obj.definition])
        except Exception as exc:
            self._rechecks.discard(obj.name)
            log.error("cannot check vnetd's nftables rules: %s", exc)
            return
        if not intact.get(obj.name, True):
            self.schedule(obj, "nftables rules changed")

    # -- repair -----------------------------------------------------------------------

    def schedule(self, obj: NetworkObject, reason: str) -> None:
        if obj.name in self._queued:
            return
        self._queued.add(obj.name)
        task = asyncio.ensure_future(self._repair(obj, reason, time.monotonic()))
        self._repair_tasks.add(task)
        task.add_done_callback(self._repair_tasks.discard)

    async def _repair(self, obj: NetworkObject, reason: str, noticed: float) -> None:
        try:
            async with obj.lock:
                self._queued.discard(obj.name)
                if obj.removed or not obj.active or obj.facts is None:
                    return
                facts = await self.manager.runner.repair(obj.definition, obj.facts)
                obj.facts = replace(facts, started_at=obj.facts.started_at)
                if facts.repaired:
                    self.repairs += 1
                    took = time.monotonic() - noticed
                    log.warning("network %s: %s; repaired %s in %.3f s", obj.name, reason,
                                ", ".join(facts.repaired), took)
                    self.manager.save_running_status(obj)
                    self.manager.notify_repaired(obj, facts.repaired)
        except Exception:
            self._queued.discard(obj.name)
            log.exception("network %s: repair after %r failed", obj.name, reason)
