"""Edge-port STP: loop protection without the 4 s wait on every guest port.

``<bridge stp='on'>`` (libvirt's default network has it) asks for loop protection. With
kernel STP running, every new port spends the forward delay listening and again
learning before it forwards, and the kernel clamps that delay to at least 2 s: a guest's
first DHCP lease waits about 4 s. A loop needs a port that leads somewhere else (a
physical NIC, a bond, a VLAN or macvlan device); a guest's own NIC, a tap (kind ``tun``)
or a veth, is an *edge port*, which RSTP and Cisco's "portfast" let forward at once.

So, for a definition with STP on:

* While every port of the bridge is an edge port (``IFLA_INFO_KIND`` ``tun`` or
  ``veth``), kernel STP stays **off**: a guest port forwards the moment it has carrier.
* As soon as a non-edge port is enslaved (no kind at all, as for a physical NIC, or any
  other kind), kernel STP goes **on**, with the definition's delay clamped as the kernel
  requires. The backend's netlink watch sees the port's ``RTM_NEWLINK`` (its
  ``IFLA_MASTER`` is one of our bridges) and acts within milliseconds, without polling.
  The new port had started forwarding the moment it joined (the kernel does that with
  STP off), so it is first set ``disabled`` (allowed only while STP is off), then STP is
  started, then the port is re-enabled through the kernel's carrier check, which under
  STP puts it in ``listening``: it goes through listening and learning exactly as it
  would have on a bridge that always ran STP. Edge ports already forwarding keep
  forwarding (the kernel only moves blocked ports when STP starts).
* STP is never turned off on a bridge that has a non-edge port. When the last one has
  gone, the next ``ensure`` (start, adoption, drift repair) turns it off again.
* A userspace STP daemon (kernel ``stp_state`` 2, e.g. mstpd) is left alone: it runs
  RSTP, which knows edge ports itself.
* ``<bridge stp='off'>`` stays off, whatever the ports.

The XML keeps saying ``stp='on'``: the user's intent, loop protection, is kept.

Limitation: the watch runs only while vnetd does. A non-edge port enslaved while vnetd
is stopped is found by the next start's adoption (``ensure`` reads the ports), which
turns STP on then.
"""

from __future__ import annotations

# Before any pyroute2 import (see lean_import).
from . import lean_import  # noqa: F401  # isort: skip

# isort: split
import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from pyroute2.netlink import NLA_F_NESTED
from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from .. import background
from ..errors import Failed
from ..model import NetworkDefinition
from .stp_rules import (
    BR_STATE_DISABLED,
    KERNEL_STP_OFF,
    KERNEL_STP_ON,
    USER_STP,
    PortFact,
    Wanted,
    forward_delay_cs,
    is_edge,
    stp_requested,
)

__all__ = ["EdgeStp", "PortFact", "Wanted", "forward_delay_cs", "is_edge", "joined_non_edge",
           "port_fact", "port_recheck_request", "port_state_request", "ports_request",
           "stp_requested"]

log = logging.getLogger(__name__)

# -- rules on pyroute2 messages (the pure ones are in stp_rules) ------------------------


def port_fact(msg: Any) -> PortFact:
    return PortFact(index=msg["index"], name=str(msg.get("ifname")),
                    kind=msg.get(("linkinfo", "kind")),
                    state=msg.get(("linkinfo", "slave_data", "IFLA_BRPORT_STATE")),
                    isolated=bool(msg.get(("linkinfo", "slave_data", "IFLA_BRPORT_ISOLATED"))))


def joined_non_edge(msg: Any, bridges: Iterable[int]) -> int | None:
    """The bridge a link event shows a non-edge port on, if it is one of ``bridges``.

    Only AF_UNSPEC link messages count: the bridge's own AF_BRIDGE port notifications
    carry no IFLA_LINKINFO, so every port would look like a physical NIC in them."""
    if msg["header"]["type"] != RTM_NEWLINK or msg.get("family") != socket.AF_UNSPEC:
        return None
    master = msg.get("master")
    if master is None or master not in bridges:
        return None
    return None if is_edge(msg.get(("linkinfo", "kind"))) else int(master)


# -- requests ---------------------------------------------------------------------------

def ports_request(bridge_index: int) -> ifinfmsg:
    """A link dump the kernel filters down to the bridge's ports."""
    msg = ifinfmsg()
    msg["attrs"] = [("IFLA_MASTER", bridge_index)]
    return msg


def port_state_request(index: int, state: int) -> ifinfmsg:
    """``bridge link set dev X state N``: RTM_SETLINK, AF_BRIDGE, nested IFLA_PROTINFO.
    (Through IFLA_INFO_SLAVE_DATA the kernel would send NETDEV_CHANGE afterwards, whose
    carrier check re-enables a disabled port at once.)"""
    msg = ifinfmsg()
    msg["family"] = socket.AF_BRIDGE
    msg["index"] = index
    msg["attrs"] = [("IFLA_PROTINFO", {"attrs": [("IFLA_BRPORT_STATE", state)]}, NLA_F_NESTED)]
    return msg


def port_recheck_request(index: int) -> ifinfmsg:
    """An empty bridge-port change: it changes nothing but makes the kernel send
    NETDEV_CHANGE for the port, whose carrier check (``br_port_carrier_check``) enables
    a disabled port with carrier the way STP wants it: blocking, then listening."""
    msg = ifinfmsg()
    msg["index"] = index
    msg["attrs"] = [("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"),
                                                 ("IFLA_INFO_SLAVE_DATA", {"attrs": []})]})]
    return msg


# -- applier ----------------------------------------------------------------------------

def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("edge-port STP: %s", task.exception())


class Rtnl(Protocol):
    """What ``EdgeStp`` needs from the backend's request socket."""

    async def _link_by_index(self, index: int) -> Any | None: ...

    async def _filtered_dump(self, msg: Any, msg_type: int) -> list[Any]: ...

    async def _send(self, what: str, msg: Any, msg_type: int) -> None: ...

    async def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any: ...


class EdgeStp:
    """Kernel STP of the backend's bridges, following their ports (see module doc)."""

    def __init__(self, rtnl: Rtnl) -> None:
        self._rtnl = rtnl
        # Bridges that ask for STP and run without it (edge ports only), by ifindex:
        # the ones a joining port is checked against.
        self.pending: dict[int, Wanted] = {}
        self._lock = asyncio.Lock()
        self._watchers = 0  # running watch() calls of the backend
        self._guard: asyncio.Task[None] | None = None
        self._rechecks: set[asyncio.Task[None]] = set()

    # -- tasks ------------------------------------------------------------------------

    def guard(self, listen: Callable[[], Awaitable[None]], also_needed: bool = False) -> None:
        """Run ``listen`` (an event listener that calls ``notice``/``schedule``) while
        bridges run without STP (or the backend has ``also_needed`` it for its own
        following of ports) and no ``watch`` of the backend listens."""
        if (self.pending or also_needed) and not self._watchers and \
                (self._guard is None or self._guard.done()):
            self._guard = background.start(listen(), "STP guard")
            self._guard.add_done_callback(_log_failure)

    def watch_started(self) -> None:
        self._watchers += 1
        if self._guard is not None:
            self._guard.cancel()

    def watch_ended(self) -> None:
        self._watchers -= 1

    def schedule(self, index: int) -> None:
        """``recheck`` in a task of its own: the event loop must not wait for it."""
        task = asyncio.ensure_future(self.recheck(index))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)
        task.add_done_callback(_log_failure)

    async def close(self) -> None:
        tasks = [t for t in (self._guard, *self._rechecks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._guard = None

    # -- state --------------------------------------------------------------------------

    def forget(self, index: int) -> None:
        self.pending.pop(index, None)

    def notice(self, msg: Any) -> int | None:
        """The pending bridge a link event needs rechecked, if any."""
        if msg["header"]["type"] == RTM_DELLINK:
            self.forget(msg.get("index"))
            return None
        return joined_non_edge(msg, self.pending)

    async def reconcile(self, definition: NetworkDefinition, name: str, msg: Any) -> None:
        """Set kernel STP and forward delay of the bridge ``msg`` describes (``ensure``)."""
        index: int = msg["index"]
        async with self._lock:
            if not stp_requested(definition):
                self.forget(index)
                await self._apply(name, index, msg, None,
                                  forward_delay_cs(definition, kernel_stp=False))
                return
            wanted = Wanted(name, forward_delay_cs(definition, kernel_stp=True),
                            forward_delay_cs(definition, kernel_stp=False))
            # Registered before the ports are read: a port joining from now on is seen
            # by the watch, one that joined before is in the dump.
            self.pending[index] = wanted
            await self._apply(name, index, msg, wanted, wanted.delay_off)

    async def recheck(self, index: int) -> None:
        """A non-edge port may have joined a pending bridge: look again, act at once."""
        async with self._lock:
            wanted = self.pending.get(index)
            if wanted is None:
                return
            msg = await self._rtnl._link_by_index(index)
            if msg is None or msg.get(("linkinfo", "kind")) != "bridge":
                self.forget(index)
                return
            await self._apply(wanted.name, index, msg, wanted, wanted.delay_off)

    async def _apply(self, name: str, index: int, msg: Any, wanted: Wanted | None,
                     delay_off: int) -> None:
        current = msg.get(("linkinfo", "data", "br_stp_state")) or KERNEL_STP_OFF
        on = False
        if wanted is not None:
            if current == USER_STP:
                self.forget(index)
                return  # a userspace STP daemon (RSTP) owns the bridge, and its delay
            ports = [port_fact(m) for m in
                     await self._rtnl._filtered_dump(ports_request(index), RTM_GETLINK)]
            non_edge = [p for p in ports if not is_edge(p.kind)]
            on = bool(non_edge)
            if on:
                if current == KERNEL_STP_OFF:
                    await self._start(name, index, non_edge)
                self.forget(index)  # only once STP runs: a failed start is tried again
        if not on and current != KERNEL_STP_OFF:
            await self._rtnl._call(f"turning STP of bridge {name} off", "link", "set",
                                   index=index, kind="bridge", br_stp_state=KERNEL_STP_OFF)
        if current != int(on):
            again = await self._rtnl._link_by_index(index)
            msg = again if again is not None else msg
        # After the STP state: the kernel checks a delay against the state it has then.
        delay = wanted.delay_on if on and wanted else delay_off
        if msg.get(("linkinfo", "data", "br_forward_delay")) != delay:
            await self._rtnl._call(f"setting forward delay of bridge {name}", "link", "set",
                                   index=index, kind="bridge", br_forward_delay=delay)

    async def _start(self, name: str, index: int, non_edge: list[PortFact]) -> None:
        held: list[PortFact] = []
        for port in non_edge:
            if port.state == BR_STATE_DISABLED:
                continue  # no carrier yet: STP takes it through listening when it comes
            try:
                await self._rtnl._send(f"holding port {port.name} of bridge {name}",
                                       port_state_request(port.index, BR_STATE_DISABLED),
                                       RTM_SETLINK)
            except Failed as exc:
                log.warning("%s", exc.message)
                continue
            held.append(port)
        try:
            await self._rtnl._call(f"turning STP of bridge {name} on", "link", "set",
                                   index=index, kind="bridge", br_stp_state=KERNEL_STP_ON)
            log.info("bridge %s: STP on, %s joined (not a guest port)", name,
                     ", ".join(p.name for p in non_edge))
        finally:
            # Even when STP could not start: a held port must not stay disabled.
            for port in held:
                try:
                    await self._rtnl._send(f"re-enabling port {port.name} of bridge {name}",
                                           port_recheck_request(port.index), RTM_NEWLINK)
                except Failed as exc:
                    if getattr(exc.__cause__, "code", None) != errno.ENODEV:
                        log.error("%s", exc.message)
