"""Wires the concrete backends, the store and the manager together."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import listeners
from .backends import BridgeBackend, BridgeState, BridgeSurvey
from .codec import format_network, parse_network
from .dnsmasq.supervisor import DnsmasqSupervisor
from .drift import DriftRepair
from .firewall.nft import NftFirewall
from .firewall.watch import affected_networks
from .firewall.watch import watch as nft_watch
from .manager import Manager
from .model import NetworkDefinition
from .paths import DEFAULT_RESOLV_CONF, Paths
from .runner import NetworkRunner
from .store import Store
from .threads import in_daemon_thread

if TYPE_CHECKING:
    from .bridge.netlink import NetlinkBridge
    from .bridge.survey import Intact


class LazyBridge:
    """``NetlinkBridge``, imported on first use and in a worker thread.

    pyroute2 costs ~100 ms to import. A daemon with no running network answers on the
    bus without it, and does without it until a network starts; the drift watch that
    needs it next, when networks run, starts once the bus name is taken: imported in a
    thread then, it no longer holds up the first calls (the event loop keeps answering
    between the import's GIL slices)."""

    def __init__(self) -> None:
        self._backend: NetlinkBridge | None = None
        self._loading: asyncio.Future[NetlinkBridge] | None = None
        self._handover: list[Intact] = []  # adopted before the backend was loaded

    async def _get(self) -> NetlinkBridge:
        if self._backend is not None:
            return self._backend
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load())
        return await asyncio.shield(self._loading)

    async def _load(self) -> NetlinkBridge:
        module: Any = await in_daemon_thread(importlib.import_module, "vnetd.bridge.netlink")
        backend: NetlinkBridge = module.NetlinkBridge()
        backend.take_over(self._handover)
        self._handover.clear()
        self._backend = backend
        return backend

    async def check_conflicts(self, definition: NetworkDefinition) -> None:
        await (await self._get()).check_conflicts(definition)

    async def ensure(self, definition: NetworkDefinition) -> int:
        return await (await self._get()).ensure(definition)

    async def remove(self, bridge_name: str) -> None:
        await (await self._get()).remove(bridge_name)

    async def inspect(self, bridge_name: str) -> BridgeState | None:
        return await (await self._get()).inspect(bridge_name)

    async def interface_names(self) -> set[str]:
        return await (await self._get()).interface_names()

    async def adopt_many(self, definitions: Sequence[NetworkDefinition]) -> BridgeSurvey:
        if self._backend is not None:
            return await self._backend.adopt_many(definitions)
        # Without pyroute2: the backend, once loaded (the daemon's event watch loads it
        # right after taking the bus name), watches these bridges as ensure() would.
        # Imported here: a daemon with no running network does without it (~10 ms).
        from .bridge.survey import survey

        found = survey(definitions)
        self._handover.extend(found.intact.values())
        return BridgeSurvey(found.indexes, found.interfaces)

    async def intact(self, definitions: Sequence[NetworkDefinition]) -> dict[str, int]:
        from .bridge.survey import survey

        return survey(definitions).indexes

    async def clear_set_aside(self, known: frozenset[str] | None = None) -> list[str]:
        # Without pyroute2 (a plain netlink dump): a daemon start does not load it for this.
        # The dump runs here; a worker thread (~2.7 ms to start the first time, before the
        # daemon answers) only when there is a bridge to delete.
        from .bridge.setaside import delete_set_aside, find_set_aside

        found = find_set_aside(known)
        return await asyncio.to_thread(delete_set_aside, found) if found else []

    async def watch(self, callback: Any,
                    ready: Callable[[], Awaitable[None] | None] | None = None) -> None:
        await (await self._get()).watch(callback, ready)

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()


def build_manager(paths: Paths, firewall: NftFirewall | None = None, *,
                  resolv_conf: Path = DEFAULT_RESOLV_CONF) -> tuple[Manager, DriftRepair]:
    store = Store(paths, parse_network, format_network)
    bridge = LazyBridge()
    # The nftables firewall guards every firewalled network's dnsmasq before it starts
    # (NetworkRunner.start), so that dnsmasq binds with bind-interfaces.
    runner = NetworkRunner(bridge, firewall or NftFirewall(),
                           DnsmasqSupervisor(paths, resolv_conf=resolv_conf,
                                             guarded=listeners.guarded))
    manager = Manager(store, runner)
    drift = DriftRepair(manager, firewall_watch=nft_watch, affected_networks=affected_networks,
                        bridge_watch=bridge.watch)
    manager.start_hooks.append(drift.network_started)
    return manager, drift


if TYPE_CHECKING:

    def _implements_protocol(backend: LazyBridge) -> BridgeBackend:
        return backend
