"""Blocking wrapper around :class:`vnetctl.client.Client` for scripts and REPLs.

It owns a private event loop (``asyncio.Runner``), so it must not be used from
inside a running event loop; use the async client there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from .client import Client, EventStream, Network
from .types import DhcpLease, ListFlags, NetworkEvent, NetworkInfo, UpdateFlags, XmlFlags

T = TypeVar("T")


class BlockingClient:
    def __init__(self, address: str | None = None, *, timeout: float | None = None) -> None:
        self._runner = asyncio.Runner()
        try:
            self._client = self._runner.run(Client.connect(address, timeout=timeout))
        except BaseException:
            self._runner.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def close(self) -> None:
        try:
            self._run(self._client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def version(self) -> str:
        return self._run(self._client.version())

    def list_networks(self, flags: int = ListFlags.ALL) -> list[NetworkInfo]:
        return self._run(self._client.list_networks(flags))

    def lookup(self, name_or_uuid: str) -> BlockingNetwork:
        return BlockingNetwork(self, self._run(self._client.lookup(name_or_uuid)))

    def lookup_by_name(self, name: str) -> BlockingNetwork:
        return BlockingNetwork(self, self._run(self._client.lookup_by_name(name)))

    def lookup_by_uuid(self, uuid: str) -> BlockingNetwork:
        return BlockingNetwork(self, self._run(self._client.lookup_by_uuid(uuid)))

    def define_xml(self, xml: str) -> BlockingNetwork:
        return BlockingNetwork(self, self._run(self._client.define_xml(xml)))

    def create_xml(self, xml: str) -> BlockingNetwork:
        return BlockingNetwork(self, self._run(self._client.create_xml(xml)))

    def events(self, timeout: float | None = None) -> Iterator[NetworkEvent]:
        """Yield events until ``timeout`` seconds have passed (None: forever).

        The subscription is in place when the first ``next()`` starts waiting.
        """
        stream: EventStream = self._client.events()
        deadline = None if timeout is None else time.monotonic() + timeout
        self._run(stream.subscribe())
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                try:
                    yield self._run(stream.get(left))
                except TimeoutError:
                    return
        finally:
            self._run(stream.unsubscribe())


class BlockingNetwork:
    def __init__(self, owner: BlockingClient, network: Network) -> None:
        self._owner = owner
        self.network = network

    @property
    def path(self) -> str:
        return self.network.path

    def __repr__(self) -> str:
        return f"BlockingNetwork({self.path!r})"

    def info(self) -> NetworkInfo:
        return self._owner._run(self.network.info())

    def start(self) -> None:
        self._owner._run(self.network.start())

    def destroy(self) -> None:
        self._owner._run(self.network.destroy())

    def undefine(self) -> None:
        self._owner._run(self.network.undefine())

    def get_xml_desc(self, flags: int = XmlFlags.NONE) -> str:
        return self._owner._run(self.network.get_xml_desc(flags))

    def get_dhcp_leases(self, mac: str = "") -> list[DhcpLease]:
        return self._owner._run(self.network.get_dhcp_leases(mac))

    def wait_for_lease(self, mac: str, timeout: float) -> DhcpLease:
        return self._owner._run(self.network.wait_for_lease(mac, timeout))

    def update(self, command: int, section: int, parent_index: int, xml: str,
               flags: int = UpdateFlags.CURRENT) -> None:
        self._owner._run(self.network.update(command, section, parent_index, xml, flags))

    def get_autostart(self) -> bool:
        return self._owner._run(self.network.get_autostart())

    def set_autostart(self, autostart: bool) -> None:
        self._owner._run(self.network.set_autostart(autostart))
