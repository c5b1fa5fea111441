"""Start, stop and adopt one network with the three backends, all-or-nothing.

A start that fails at any step undoes what it built, in reverse order, and reports
which step failed and why. A stop keeps going past a failing step and reports every
failure at the end (a half-removed network is worse than a slow error). Adoption after
a daemon restart checks each part and repairs only what is missing, so a guest on a
healthy network sees nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from .backends import BridgeBackend, DhcpDnsBackend, FirewallBackend
from .errors import ALL_ERRORS, Failed, VnetdError
from .laps import Laps
from .model import NetworkDefinition
from .testhooks import checkpoint, hold

log = logging.getLogger(__name__)

STOP_ORDER = ("dnsmasq", "firewall", "bridge")


@dataclass(frozen=True)
class RuntimeFacts:
    """What a running network's start left in the kernel and the process table."""

    bridge_ifindex: int | None
    dnsmasq_pid: int | None
    started_at: float = field(default_factory=time.time)
    repaired: tuple[str, ...] = ()  # what adoption had to put right


class NetworkRunner:
    def __init__(self, bridge: BridgeBackend, firewall: FirewallBackend,
                 dnsmasq: DhcpDnsBackend) -> None:
        self.bridge = bridge
        self.firewall = firewall
        self.dnsmasq = dnsmasq

    async def start(self, definition: NetworkDefinition) -> RuntimeFacts:
        name = definition.name
        bridge_name = definition.bridge_name
        if bridge_name is None:
            raise Failed(f"network {name!r} has no bridge name")
        lap = Laps(digits=1)
        await self.bridge.check_conflicts(definition)
        lap("checks")
        built: list[str] = []
        step = "bridge"
        dnsmasq: asyncio.Future[int] | None = None
        try:
            checkpoint("start-bridge")
            ifindex = await self.bridge.ensure(definition)
            # The firewall counts as built from here: its transactions are atomic, and a
            # remove of what is not there changes nothing.
            built += ["bridge", "firewall"]
            lap("bridge")
            # dnsmasq needs the bridge and its addresses, not the rules: it starts in its
            # own process (~10 ms: exec, config, sockets) while the synchronous nftables
            # transaction (~5 ms) runs here, and is waited for after it.
            step = "dnsmasq"
            checkpoint("start-dnsmasq")
            if self.dnsmasq.needed(definition):
                # What keeps dnsmasq from answering on other interfaces is in place before
                # it binds (vnetd.listeners); the rest of the rules may follow.
                step = "firewall"
                self.firewall.guard(definition)
                lap("guard")
                checkpoint("start-guarded")
                step = "dnsmasq"
                built.append("dnsmasq")
                dnsmasq = asyncio.ensure_future(self.dnsmasq.start(definition))
                await asyncio.sleep(0)  # runs it up to its first wait: spawned
                if dnsmasq.done():
                    await dnsmasq  # refused at once (bad config, no binary): undone below
            step = "firewall"
            checkpoint("start-firewall")
            self.firewall.apply(definition)
            lap("firewall")
            step = "dnsmasq"
            pid = None
            if dnsmasq is not None:
                pid = await dnsmasq
                lap("dnsmasq ready")
            checkpoint("start-done")
            await hold("start-done")
            log.debug("network %s started (ms): %s", name, lap)
        except BaseException as exc:
            if dnsmasq is not None and not dnsmasq.done():
                # A dnsmasq still starting ends with its task (the supervisor stops what
                # it spawned); only then can stop() below find nothing left.
                dnsmasq.cancel()
                with contextlib.suppress(BaseException):
                    await dnsmasq
            await self._undo(definition, built)
            if isinstance(exc, VnetdError):
                # Re-raised as the public class it belongs to (a backend's subclass may take
                # other constructor arguments), so the caller keeps the right error name.
                error_class = next(c for c in type(exc).__mro__
                                   if c in ALL_ERRORS or c is VnetdError)
                raise error_class(
                    f"starting network {name!r} failed at step {step}: {exc.message}") from exc
            if isinstance(exc, Exception):
                log.exception("unexpected error starting network %s at step %s", name, step)
                raise Failed(f"starting network {name!r} failed at step {step}: {exc}") from exc
            raise
        return RuntimeFacts(bridge_ifindex=ifindex, dnsmasq_pid=pid)

    async def _undo(self, definition: NetworkDefinition, built: list[str]) -> None:
        for part in reversed(built):
            try:
                await self._remove_part(definition, part)
            except Exception:
                log.exception("rollback of %s for network %s failed", part, definition.name)

    async def _remove_part(self, definition: NetworkDefinition, part: str) -> None:
        if part == "dnsmasq":
            await self.dnsmasq.stop(definition.name)
        elif part == "firewall":
            self.firewall.remove(definition.name)
        elif part == "bridge" and definition.bridge_name:
            await self.bridge.remove(definition.bridge_name)

    async def stop(self, definition: NetworkDefinition) -> None:
        """Remove every part; keep going past failures and report them all.

        The parts do not wait for each other: dnsmasq takes 1-15 ms to exit after its
        SIGTERM (dev lab, a network that just lost a guest), during which the firewall
        transaction and the bridge's set-aside (``NetlinkBridge.remove``) run. Each part
        is started in the usual order, dnsmasq first."""
        errors: dict[str, str] = {}
        timings: dict[str, str] = {}

        async def remove(part: str) -> None:
            began = time.monotonic()
            try:
                await self._remove_part(definition, part)
            except VnetdError as exc:
                errors[part] = exc.message
            except Exception as exc:
                log.exception("removing %s of network %s failed", part, definition.name)
                errors[part] = str(exc)
            timings[part] = f"{(time.monotonic() - began) * 1000:.1f}"

        started: list[asyncio.Future[None]] = []
        try:
            for part in STOP_ORDER:
                checkpoint(f"stop-{part}")
                started.append(asyncio.ensure_future(remove(part)))
                await asyncio.sleep(0)  # under way (signal sent, transaction run) first
        finally:
            await asyncio.gather(*started)
        log.debug("network %s stopped (ms): %s", definition.name,
                  ", ".join(f"{p} {timings[p]}" for p in STOP_ORDER if p in timings))
        if errors:
            raise Failed(f"stopping network {definition.name!r}: "
                         + "; ".join(f"{p}: {errors[p]}" for p in STOP_ORDER if p in errors))

    async def adopt(self, definition: NetworkDefinition, facts: RuntimeFacts,
                    firewall_intact: bool | None = None,
                    bridge_ifindex: int | None = None, *,
                    when: str = "after restart") -> RuntimeFacts:
        """Take over a network that kept running while the daemon was away.

        ``firewall_intact`` is the caller's ``verify_many`` answer when it checked many
        networks at once; None makes this call check. ``bridge_ifindex`` is given when
        the caller's ``bridge.adopt_many`` already took the bridge over intact."""
        repaired: list[str] = []
        if bridge_ifindex is not None:
            ifindex = bridge_ifindex
        else:
            bridge_name = definition.bridge_name or ""
            state = await self.bridge.inspect(bridge_name)
            expected = {str(ip.interface) for ip in definition.ips}
            if state is None or not state.up or not expected <= set(state.addresses):
                repaired.append("bridge")
            # ensure() on an intact bridge changes nothing; it also lets the backend watch it.
            ifindex = await self.bridge.ensure(definition)
        if firewall_intact is None:
            firewall_intact = self.firewall.verify(definition)
        if not firewall_intact:
            self.firewall.apply(definition)
            repaired.append("firewall")
        pid = None
        if self.dnsmasq.needed(definition):
            # dnsmasq binds its DHCP socket to the bridge device: a bridge made anew (another
            # ifindex under the same name) gets no DHCP from the dnsmasq that ran before, so
            # that one is replaced. Otherwise the running dnsmasq is kept as it is.
            bridge_replaced = facts.bridge_ifindex not in (None, ifindex)
            if (facts.dnsmasq_pid is not None and not bridge_replaced
                    and await self.dnsmasq.adopt(definition, facts.dnsmasq_pid)):
                pid = facts.dnsmasq_pid
            else:
                pid = await self.dnsmasq.start(definition)
                repaired.append("dnsmasq")
        if repaired:
            log.warning("network %s: repaired %s %s", definition.name, ", ".join(repaired),
                        when)
        return RuntimeFacts(bridge_ifindex=ifindex, dnsmasq_pid=pid,
                            started_at=facts.started_at, repaired=tuple(repaired))

    async def close(self, *, exiting: bool = False) -> None:
        """Let go of the backends' handles. ``exiting``: the process ends right after
        (``os._exit``) and the kernel closes its descriptors, so the dnsmasq watches are
        not taken down one by one (a pidfd and a loop reader each: 1.5-1.9 ms of a
        daemon stop with 100 networks running, growing with every network)."""
        if not exiting:
            self.dnsmasq.close()
        await self.bridge.close()

    async def repair(self, definition: NetworkDefinition, facts: RuntimeFacts) -> RuntimeFacts:
        """Drift repair: the same checks as adoption, on a network we run."""
        return await self.adopt(definition, facts, when="while running")
