"""Small helpers for driving vnetd with ``busctl`` and watching its signals with dbus-fast."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.integration.daemon_harness import Daemon

MANAGER = "/org/vnetd1"
MGR_IFACE = "org.vnetd1.Manager"
NET_IFACE = "org.vnetd1.Network"


def network_xml(name: str, subnet: int, *, mode: str | None = "nat", bridge: str | None = None,
                dhcp: bool = True, extra: str = "", uuid: str | None = None) -> str:
    """A small libvirt network on 10.77.<subnet>.0/24."""
    forward = f"<forward mode='{mode}'/>" if mode else ""
    br = f"<bridge name='{bridge}'/>" if bridge else ""
    uid = f"<uuid>{uuid}</uuid>" if uuid else ""
    dhcp_xml = (f"<dhcp><range start='10.77.{subnet}.100' end='10.77.{subnet}.200'/></dhcp>"
                if dhcp else "")
    return (f"<network><name>{name}</name>{uid}{forward}{br}{extra}"
            f"<ip address='10.77.{subnet}.1' netmask='255.255.255.0'>{dhcp_xml}</ip></network>")


def parse_json(stdout: str) -> Any:
    return json.loads(stdout)["data"]


class Api:
    """Calls through busctl, the real command-line client, with JSON output."""

    def __init__(self, daemon: Daemon, user: int | None = None) -> None:
        self.daemon = daemon
        self.user = user

    def call(self, path: str, iface: str, member: str, signature: str = "", *args: str,
             check: bool = True) -> Any:
        proc = self.daemon.busctl("--json=short", "call", "--", "org.vnetd1", path, iface, member,
                                  *([signature, *args] if signature else []), check=check,
                                  user=self.user)
        if not check and proc.returncode != 0:
            return proc
        data = parse_json(proc.stdout) if proc.stdout.strip() else []
        return data[0] if len(data) == 1 else data

    def error(self, path: str, iface: str, member: str, signature: str = "",
              *args: str) -> str:
        """Call expecting failure; return busctl's stderr (which carries the error)."""
        proc = self.daemon.busctl("call", "--", "org.vnetd1", path, iface, member,
                                  *([signature, *args] if signature else []), check=False,
                                  user=self.user)
        assert proc.returncode != 0, f"{member} unexpectedly succeeded: {proc.stdout}"
        return proc.stderr

    def define(self, xml: str) -> str:
        return str(self.call(MANAGER, MGR_IFACE, "DefineXML", "s", xml))

    def create(self, xml: str) -> str:
        return str(self.call(MANAGER, MGR_IFACE, "CreateXML", "s", xml))

    def lookup(self, name: str) -> str:
        return str(self.call(MANAGER, MGR_IFACE, "LookupByName", "s", name))

    def list(self, flags: int = 0) -> list[str]:
        return list(self.call(MANAGER, MGR_IFACE, "ListNetworks", "u", str(flags)))

    def net(self, path: str, member: str, signature: str = "", *args: str) -> Any:
        return self.call(path, NET_IFACE, member, signature, *args)

    def prop(self, path: str, name: str) -> Any:
        proc = self.daemon.busctl("--json=short", "get-property", "org.vnetd1", path,
                                  NET_IFACE, name, user=self.user)
        return parse_json(proc.stdout)

    def set_prop(self, path: str, name: str, signature: str, value: str,
                 check: bool = True) -> Any:
        return self.daemon.busctl("set-property", "org.vnetd1", path, NET_IFACE, name,
                                  signature, value, check=check, user=self.user)

    def xml(self, path: str, flags: int = 0) -> str:
        return str(self.net(path, "GetXMLDesc", "u", str(flags)))


@dataclass
class SignalRecorder:
    """Records every signal from org.vnetd1 on a private bus, in a background thread."""

    address: str
    signals: list[tuple[str, str, str, list[Any]]] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SignalRecorder:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "signal recorder did not connect"
        return self

    async def _main(self) -> None:
        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_address=self.address).connect()
        await bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s",
            body=["type='signal',sender='org.vnetd1'"]))

        def on_message(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL:
                with self._lock:
                    self.signals.append((msg.path or "", msg.interface or "", msg.member or "",
                                         list(msg.body)))

        bus.add_message_handler(on_message)
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.02)
        bus.disconnect()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def members(self, member: str) -> list[tuple[str, list[Any]]]:
        with self._lock:
            return [(path, body) for path, _iface, m, body in self.signals if m == member]

    def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self.signals):
                    return
            time.sleep(0.02)
        raise AssertionError(f"signal not seen; got {self.signals}")
