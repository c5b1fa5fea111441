"""Async client for ``org.vnetd1`` over dbus-fast.

Every method is one raw ``bus.call`` (no introspection round trip), and every
error reply becomes one of the exceptions in :mod:`vnetctl.errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import AuthError, InvalidAddressError

from .errors import BusUnavailable, Failed, NotFound, VnetdError, error_from_dbus
from .listing import networks_from_managed_objects
from .types import (
    DhcpLease,
    EventType,
    ListFlags,
    NetworkEvent,
    NetworkInfo,
    UpdateFlags,
    XmlFlags,
    event_type,
)
from .uuids import looks_like_uuid

BUS_NAME = "org.vnetd1"
MANAGER_PATH = "/org/vnetd1"
MANAGER_IFACE = "org.vnetd1.Manager"
NETWORK_IFACE = "org.vnetd1.Network"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"

_EVENT_RULE = (
    f"type='signal',sender='{BUS_NAME}',path='{MANAGER_PATH}',"
    f"interface='{MANAGER_IFACE}',member='NetworkEvent'"
)


def _info_from_properties(path: str, props: dict[str, Variant]) -> NetworkInfo:
    def get(key: str, default: Any) -> Any:
        variant = props.get(key)
        return default if variant is None else variant.value

    return NetworkInfo(
        name=str(get("Name", "")),
        uuid=str(get("UUID", "")),
        active=bool(get("Active", False)),
        persistent=bool(get("Persistent", False)),
        autostart=bool(get("Autostart", False)),
        bridge=str(get("BridgeName", "")),
        forward_mode=str(get("ForwardMode", "")),
        path=path,
    )


class Client:
    """A connection to vnetd. Use ``await Client.connect()`` or ``async with``."""

    def __init__(self, bus: MessageBus, *, timeout: float | None = None) -> None:
        self._bus = bus
        self.timeout = timeout

    @classmethod
    async def connect(
        cls, address: str | None = None, *, timeout: float | None = None
    ) -> Client:
        """Connect to the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` when set) or ``address``."""
        try:
            bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        except (OSError, AuthError, InvalidAddressError) as exc:
            where = address or _system_bus_address()
            raise BusUnavailable(f"cannot connect to the system bus at {where}: {exc}") from exc
        return cls(bus, timeout=timeout)

    async def close(self) -> None:
        if self._bus.connected:
            self._bus.disconnect()
            await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def bus(self) -> MessageBus:
        return self._bus

    async def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        destination: str = BUS_NAME,
    ) -> list[Any]:
        """One method call; returns the reply body or raises a VnetdError."""
        msg = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            reply = await asyncio.wait_for(self._bus.call(msg), self.timeout)
        except TimeoutError as exc:
            raise Failed(f"vnetd did not answer {member} within {self.timeout} s") from exc
        except (OSError, EOFError) as exc:
            raise BusUnavailable(f"lost the connection to the bus: {exc}") from exc
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise error_from_dbus(reply.error_name or "", text)
        return list(reply.body)

    async def _manager(self, member: str, signature: str = "", *body: Any) -> list[Any]:
        return await self.call(MANAGER_PATH, MANAGER_IFACE, member, signature, body)

    # -- Manager -----------------------------------------------------------------

    async def version(self) -> str:
        body = await self.call(
            MANAGER_PATH, PROPERTIES_IFACE, "Get", "ss", (MANAGER_IFACE, "Version")
        )
        return str(body[0].value)

    async def list_network_paths(self, flags: int = ListFlags.ALL) -> list[str]:
        return [str(p) for p in (await self._manager("ListNetworks", "u", int(flags)))[0]]

    async def list_networks(self, flags: int = ListFlags.ALL) -> list[NetworkInfo]:
        """Networks matching ``flags`` (see ListFlags), sorted by name as virsh does.

        One ``GetManagedObjects`` call: a call per network would be N round trips, and
        the system bus refuses more than 128 pending replies per connection."""
        body = await self.call(MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects")
        objects = {
            str(path): {iface: {key: variant.value for key, variant in props.items()}
                        for iface, props in ifaces.items()}
            for path, ifaces in body[0].items()
        }
        return networks_from_managed_objects(objects, flags)

    def network(self, path: str) -> Network:
        """A handle on the network object at ``path`` (no call is made)."""
        return Network(self, path)

    async def lookup_by_name(self, name: str) -> Network:
        return self.network(str((await self._manager("LookupByName", "s", name))[0]))

    async def lookup_by_uuid(self, uuid: str) -> Network:
        return self.network(str((await self._manager("LookupByUUID", "s", uuid))[0]))

    async def lookup(self, name_or_uuid: str) -> Network:
        """By name first, then, if the text looks like a UUID, by UUID."""
        try:
            return await self.lookup_by_name(name_or_uuid)
        except NotFound:
            if not looks_like_uuid(name_or_uuid):
                raise
        return await self.lookup_by_uuid(name_or_uuid)

    async def define_xml(self, xml: str) -> Network:
        return self.network(str((await self._manager("DefineXML", "s", xml))[0]))

    async def create_xml(self, xml: str) -> Network:
        return self.network(str((await self._manager("CreateXML", "s", xml))[0]))

    def events(self) -> EventStream:
        """``async for event in client.events()``; ``async with`` to subscribe up front."""
        return EventStream(self)


class Network:
    """One network object; methods map 1:1 onto ``org.vnetd1.Network``."""

    def __init__(self, client: Client, path: str) -> None:
        self.client = client
        self.path = path

    def __repr__(self) -> str:
        return f"Network({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    async def _call(self, member: str, signature: str = "", *body: Any) -> list[Any]:
        return await self.client.call(self.path, NETWORK_IFACE, member, signature, body)

    async def _get(self, prop: str) -> Any:
        body = await self.client.call(
            self.path, PROPERTIES_IFACE, "Get", "ss", (NETWORK_IFACE, prop)
        )
        return body[0].value

    async def info(self) -> NetworkInfo:
        body = await self.client.call(self.path, PROPERTIES_IFACE, "GetAll", "s", (NETWORK_IFACE,))
        return _info_from_properties(self.path, body[0])

    async def name(self) -> str:
        return str(await self._get("Name"))

    async def uuid(self) -> str:
        return str(await self._get("UUID"))

    async def is_active(self) -> bool:
        return bool(await self._get("Active"))

    async def start(self) -> None:
        await self._call("Start")

    async def destroy(self) -> None:
        await self._call("Destroy")

    async def undefine(self) -> None:
        await self._call("Undefine")

    async def get_xml_desc(self, flags: int = XmlFlags.NONE) -> str:
        return str((await self._call("GetXMLDesc", "u", int(flags)))[0])

    async def get_dhcp_leases(self, mac: str = "") -> list[DhcpLease]:
        """Current leases, all of them or those of one MAC address."""
        body = await self._call("GetDHCPLeases", "su", mac, 0)
        return [DhcpLease.from_struct(item) for item in body[0]]

    async def wait_for_lease(self, mac: str, timeout: float) -> DhcpLease:
        """The guest's IPv4 lease as soon as it has one (at once if it already has).

        ``timeout`` is in seconds; when it passes, vnetd answers with ``Failed``."""
        millis = max(0, min(int(timeout * 1000), 0xFFFFFFFF))
        body = await self._call("WaitForLease", "su", mac, millis)
        return DhcpLease.from_struct(body[0])

    async def update(self, command: int, section: int, parent_index: int, xml: str,
                     flags: int = UpdateFlags.CURRENT) -> None:
        """libvirt's virNetworkUpdate (same argument order as libvirt-python's
        ``network.update``): ``command`` an UpdateCommand, ``section`` a NetworkSection,
        ``parent_index`` which <ip> (-1: the first that fits), ``xml`` the element."""
        await self._call("Update", "uuisu", int(command), int(section), int(parent_index),
                         xml, int(flags))

    async def get_autostart(self) -> bool:
        return bool(await self._get("Autostart"))

    async def set_autostart(self, autostart: bool) -> None:
        await self.client.call(
            self.path,
            PROPERTIES_IFACE,
            "Set",
            "ssv",
            (NETWORK_IFACE, "Autostart", Variant("b", autostart)),
        )


class EventStream:
    """Lifecycle events of every network, in the order the bus delivers them."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._queue: asyncio.Queue[NetworkEvent] = asyncio.Queue()
        self._subscribed = False

    def _on_message(self, msg: Message) -> None:
        if (
            msg.message_type == MessageType.SIGNAL
            and msg.interface == MANAGER_IFACE
            and msg.member == "NetworkEvent"
            and msg.path == MANAGER_PATH
            and msg.signature == "osii"
        ):
            path, name, number, detail = msg.body
            self._queue.put_nowait(NetworkEvent(str(path), str(name), event_type(number), detail))
        # A falsy return leaves the message to dbus-fast's own handlers.

    async def _bus_call(self, member: str, rule: str) -> None:
        await self._client.call(
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            member,
            "s",
            (rule,),
            destination="org.freedesktop.DBus",
        )

    async def subscribe(self) -> None:
        """Start receiving; events that happen after this returns are never missed."""
        if self._subscribed:
            return
        self._client.bus.add_message_handler(self._on_message)
        try:
            await self._bus_call("AddMatch", _EVENT_RULE)
        except VnetdError:
            self._client.bus.remove_message_handler(self._on_message)
            raise
        self._subscribed = True

    async def unsubscribe(self) -> None:
        if not self._subscribed:
            return
        self._subscribed = False
        self._client.bus.remove_message_handler(self._on_message)
        if self._client.bus.connected:
            await self._bus_call("RemoveMatch", _EVENT_RULE)

    async def get(self, timeout: float | None = None) -> NetworkEvent:
        """The next event; raises TimeoutError after ``timeout`` seconds."""
        await self.subscribe()
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def __aenter__(self) -> EventStream:
        await self.subscribe()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.unsubscribe()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> NetworkEvent:
        return await self.get()


def _system_bus_address() -> str:
    from dbus_fast._private.address import get_bus_address

    return get_bus_address(BusType.SYSTEM)


__all__ = [
    "BUS_NAME",
    "Client",
    "DhcpLease",
    "EventStream",
    "EventType",
    "ListFlags",
    "Network",
    "NetworkEvent",
    "NetworkInfo",
    "XmlFlags",
]
