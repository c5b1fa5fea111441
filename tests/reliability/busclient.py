"""A blocking dbus-fast client with one connection, for calls that must report the D-Bus
error name (busctl prints only the message)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.integration.busapi import MANAGER, MGR_IFACE, NET_IFACE

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    error: str | None  # D-Bus error name, None on success
    body: list[Any]

    @property
    def message(self) -> str:
        return str(self.body[0]) if self.error and self.body else ""


def manager_call(member: str, signature: str = "", body: list[Any] | None = None) -> Message:
    return Message(destination="org.vnetd1", path=MANAGER, interface=MGR_IFACE, member=member,
                   signature=signature, body=body or [])


def network_call(path: str, member: str, signature: str = "",
                 body: list[Any] | None = None) -> Message:
    return Message(destination="org.vnetd1", path=path, interface=NET_IFACE, member=member,
                   signature=signature, body=body or [])


def set_property(path: str, name: str, signature: str, value: Any) -> Message:
    from dbus_fast import Variant

    return Message(destination="org.vnetd1", path=path,
                   interface="org.freedesktop.DBus.Properties", member="Set", signature="ssv",
                   body=[NET_IFACE, name, Variant(signature, value)])


async def call(bus: MessageBus, msg: Message, timeout: float = 60) -> Reply:
    reply = await asyncio.wait_for(bus.call(msg), timeout)
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        return Reply(reply.error_name or "?", list(reply.body))
    return Reply(None, list(reply.body))


class BusClient:
    """One connection served by an event loop in a background thread."""

    def __init__(self, address: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.bus: MessageBus = self._run(self._connect(address))

    @staticmethod
    async def _connect(address: str) -> MessageBus:
        # dbus-fast binds a bus to the loop running when it is made: make it in ours.
        return await MessageBus(bus_address=address).connect()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, msg: Message, timeout: float = 60) -> Reply:
        return self._run(call(self.bus, msg, timeout))

    def define(self, xml: str) -> Reply:
        return self.call(manager_call("DefineXML", "s", [xml]))

    def create(self, xml: str) -> Reply:
        return self.call(manager_call("CreateXML", "s", [xml]))

    def net(self, path: str, member: str, signature: str = "",
            body: list[Any] | None = None) -> Reply:
        return self.call(network_call(path, member, signature, body))

    def close(self) -> None:
        self.bus.disconnect()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
