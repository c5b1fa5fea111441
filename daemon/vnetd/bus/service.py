"""Connects the manager to the bus: exports objects, relays events and property changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.constants import NameFlag

from ..dnsmasq.leases import DhcpLease
from ..errors import Failed
from ..manager import Event, Manager, NetworkObject
from . import writer
from .auth import Authorizer, tag_sender
from .interfaces import ManagerInterface, NetworkInterface, lease_struct
from .managed_objects import ManagedObjects
from .names import BUS_NAME, MANAGER_PATH, network_path

log = logging.getLogger(__name__)

_PROPERTY_GETTERS: dict[str, Callable[[NetworkObject], object]] = {
    "Active": lambda o: o.active,
    "Persistent": lambda o: o.persistent,
    "Autostart": lambda o: o.autostart,
    "BridgeName": lambda o: o.definition.bridge_name or "",
    "ForwardMode": lambda o: o.definition.mode,
    "Problems": lambda o: list(o.problems),
}


class BusService:
    def __init__(self, manager: Manager, bus_address: str | None = None) -> None:
        self.manager = manager
        self.bus_address = bus_address
        self.bus: MessageBus | None = None
        self.auth: Authorizer
        self.manager_iface: ManagerInterface
        self._exported: dict[str, NetworkInterface] = {}

    async def connect(self) -> None:
        writer.install()
        if self.bus_address:
            bus = MessageBus(bus_address=self.bus_address)
        else:
            bus = MessageBus(bus_type=BusType.SYSTEM)
        try:
            self.bus = await bus.connect()
        except Exception as exc:
            raise Failed(f"cannot connect to the system bus: {exc}") from exc
        self.bus.add_message_handler(tag_sender)
        self.bus.add_message_handler(ManagedObjects(self._exported.items, self.bus.send).handle)
        self.auth = Authorizer(self.bus)
        self.manager_iface = ManagerInterface(self.manager, self.auth)

    async def publish(self) -> None:
        """Export every network, listen to the manager, then take the bus name."""
        assert self.bus is not None
        self.bus.export(MANAGER_PATH, self.manager_iface)
        for obj in self.manager.networks.values():
            self.network_added(obj)
        self.manager.listeners.append(self)
        reply = await self.bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            raise Failed(f"cannot own bus name {BUS_NAME}: {reply.name}")

    async def release_name(self) -> None:
        """Stop taking calls (daemon stop): new ones then fail as if the daemon were gone,
        while the calls in flight can still reply."""
        assert self.bus is not None
        try:
            await self.bus.release_name(BUS_NAME)
        except Exception as exc:
            log.warning("releasing the bus name failed: %s", exc)

    async def wait_disconnected(self) -> None:
        assert self.bus is not None
        await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def disconnect(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()

    # -- ManagerListener --------------------------------------------------------------

    def network_added(self, obj: NetworkObject) -> None:
        assert self.bus is not None
        path = network_path(obj.name)
        if path in self._exported:
            self.bus.unexport(path)
        iface = NetworkInterface(self, obj)
        self._exported[path] = iface
        self.bus.export(path, iface)

    def network_removed(self, obj: NetworkObject) -> None:
        assert self.bus is not None
        path = network_path(obj.name)
        iface = self._exported.get(path)
        if iface is not None and iface.obj is obj:
            del self._exported[path]
            self.bus.unexport(path)

    def network_repaired(self, obj: NetworkObject, parts: tuple[str, ...]) -> None:
        self.manager_iface.NetworkRepaired(network_path(obj.name), obj.name, list(parts))

    def lease_changed(self, obj: NetworkObject, action: str, lease: DhcpLease) -> None:
        iface = self._exported.get(network_path(obj.name))
        if iface is not None and iface.obj is obj:
            iface.LeaseChanged(action, lease_struct(obj, lease))

    def network_event(self, obj: NetworkObject, event: Event, detail: int) -> None:
        self.manager_iface.NetworkEvent(
            network_path(obj.name), obj.name, int(event), detail)

    def properties_changed(self, obj: NetworkObject, names: tuple[str, ...]) -> None:
        iface = self._exported.get(network_path(obj.name))
        if iface is None or iface.obj is not obj:
            return
        changed: dict[str, Any] = {n: _PROPERTY_GETTERS[n](obj) for n in names
                                   if n in _PROPERTY_GETTERS}
        if changed:
            iface.emit_properties_changed(changed)
