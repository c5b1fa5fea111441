"""The bridge applier: a Linux bridge per network, built over rtnetlink with pyroute2.

Only ``AsyncIPRoute`` is used (no ``ip`` subprocesses). It acts in the network
namespace of the calling process, which is how the integration tests confine it.

One request socket is opened lazily and kept for the backend's lifetime: opening a
socket is the expensive part of a netlink round trip. Event watching uses a second,
dedicated socket (a socket bound to multicast groups would interleave events with
replies).

Decisions worth knowing:

* IPv6 addresses are added with ``IFA_F_NODAD``. A fresh bridge has no ports, hence no
  carrier, and the kernel keeps a DAD-pending address *tentative* until carrier comes
  up: dnsmasq could not bind to it and libvirt's "wait for DAD" would wait for the
  first guest. The bridge is a segment this daemon just made, so there is nobody to
  collide with; the address is usable at once.
* As libvirt (``networkSetIPv6Sysctls``): ``disable_ipv6`` is 0 when the network has an
  IPv6 address and 1 otherwise; ``accept_ra`` and ``autoconf`` are always 0, so that a
  guest cannot configure the host through router advertisements. The files are
  written before any address is added and only when their value differs.
* ``accept_dad`` is 0 too, for the same reason as NODAD: the kernel makes the bridge's
  link-local address only when the first port forwards (carrier), and DAD would keep it
  tentative for another second or more. Meanwhile dnsmasq sends its router
  advertisements from the global address, which guests must drop (RFC 4861 6.1.2: an
  RA comes from a link-local source), so SLAAC would wait for the next RA.
* ``<bridge stp>`` defaults to on, ``<bridge delay>`` to 0 s. Kernel STP runs only while
  the bridge has a port that is not a guest's (tap or veth): guest ports are edge ports
  and forward at once, the first lease comes in well under a second instead of after
  4 s of listening and learning. ``vnetd.bridge.stp`` has the rules and the reasons;
  the event watch (``watch``, or a private one when nobody watches) turns STP on within
  milliseconds of a physical NIC, bond, VLAN... joining.
* ``ensure`` never deletes: an address or route it did not add stays.
"""

from __future__ import annotations

# Before any pyroute2 import (see lean_import).
from . import lean_import  # noqa: F401  # isort: skip

# isort: split
import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
)
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from ..backends import BridgeBackend, BridgeState, BridgeSurvey
from ..errors import Conflict, Failed
from ..model import IPInterface, NetworkDefinition
from ..testhooks import maybe_fail
from . import routedump, rtdump, setaside, survey
from .conflicts import (
    MAIN_TABLE,
    AddressFact,
    LinkFact,
    RouteFact,
    bridge_addresses,
    check_existing_link,
    find_route_collision,
    is_link_local,
    link_local,
    route_metric,
    validate_bridge_name,
)
from .isolation import joined_unisolated, needs_flag, unisolated
from .linkdel import delete_link
from .setaside import clear_set_aside
from .stp import EdgeStp, forward_delay_cs, is_edge, port_fact, ports_request

log = logging.getLogger(__name__)

IFF_UP = 0x1


@dataclass(frozen=True)
class BridgeEvent:
    """Something vnetd built went away behind its back (for drift repair)."""

    bridge: str
    ifindex: int
    what: str  # "link-removed" or "address-removed"
    address: str | None = None


WatchCallback = Callable[[BridgeEvent], None]


def _log_background_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s", task.exception())


def _reason(exc: NetlinkError) -> str:
    text = exc.args[1] if len(exc.args) > 1 and exc.args[1] else os.strerror(exc.code)
    return f"{text} (errno {exc.code})"


class NetlinkBridge:
    """``BridgeBackend`` over rtnetlink in the current network namespace."""

    def __init__(self, *, sysctl_root: Path = Path("/proc/sys")) -> None:
        self._sysctl_root = sysctl_root
        self._ipr: Any = None
        self._open_lock = asyncio.Lock()
        self._req_lock = asyncio.Lock()
        # Bridges this backend ensured, by ifindex: the watch reports only these.
        self._managed: dict[int, str] = {}
        # Bridges taken down and renamed by remove(), by ifindex, until the kernel is done.
        self._deleting: dict[int, asyncio.Future[None]] = {}
        self._stp = EdgeStp(self)
        # Bridges of networks with <port isolated='yes'>, by ifindex, and the flagging of
        # ports that joined them, by the port's ifindex (``vnetd.bridge.isolation``).
        self._isolating: set[int] = set()
        self._flagging: dict[int, asyncio.Task[None]] = {}

    # -- socket -------------------------------------------------------------------

    async def _sock(self) -> Any:
        if self._ipr is None:
            async with self._open_lock:
                if self._ipr is None:
                    ipr = AsyncIPRoute(ext_ack=True, strict_check=True)
                    await ipr.setup_endpoint()
                    self._ipr = ipr
        return self._ipr

    async def _req(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """One request on the shared socket, its whole answer read before the next one:
        the kernel runs one dump per socket at a time and answers a second, concurrent
        dump with EBUSY."""
        ipr = await self._sock()
        async with self._req_lock:
            result = await getattr(ipr, method)(*args, **kwargs)
            if hasattr(result, "__aiter__"):
                return [msg async for msg in result]
            return list(result or ())

    async def _raw(self, msg: Any, msg_type: int, flags: int) -> list[Any]:
        """A message built here (not by a pyroute2 call) on the shared socket, its whole
        answer read, under the same lock as ``_req``."""
        ipr = await self._sock()
        async with self._req_lock:
            return [m async for m in await ipr.nlm_request(msg, msg_type, flags)]

    async def _filtered_dump(self, msg: Any, msg_type: int) -> list[Any]:
        """A dump filtered by the kernel (strict checking honours the header fields and
        RTA_OIF/RTA_TABLE). pyroute2's own dump filters decode every object first, at
        about 0.1 ms each, which adds up with a hundred networks."""
        return await self._raw(msg, msg_type, NLM_F_REQUEST | NLM_F_DUMP)

    async def _send(self, what: str, msg: Any, msg_type: int) -> None:
        """A raw request (one pyroute2 has no call for), its acknowledgement awaited."""
        try:
            await self._raw(msg, msg_type, NLM_F_REQUEST | NLM_F_ACK)
        except NetlinkError as exc:
            raise Failed(f"{what} failed: {_reason(exc)}") from exc

    async def close(self) -> None:
        await self._settle()
        await self._stp.close()
        for task in list(self._flagging.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    # -- reading ------------------------------------------------------------------

    async def _link(self, name: str) -> Any | None:
        request = ifinfmsg()
        request["attrs"] = [("IFLA_IFNAME", name)]
        return await self._get_link(request, name)

    async def _get_link(self, request: Any, what: str) -> Any | None:
        """One interface (RTM_GETLINK), None when there is none, asked without NLM_F_ACK.
        pyroute2's ``link("get")`` asks for an acknowledgement but stops reading at the
        link's message, so the acknowledgement came after the request had ended and
        went to pyroute2's queue for unsolicited messages, which nothing reads on this
        socket: two per network start and stop, kept for ever (the daemon's RSS grew
        7-10 KB per start/stop cycle, linearly over 1000 cycles in the dev lab)."""
        try:
            msgs = await self._raw(request, RTM_GETLINK, NLM_F_REQUEST)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise Failed(f"reading interface {what} failed: {_reason(exc)}") from exc
        return msgs[0] if msgs else None

    @staticmethod
    def _link_fact(msg: Any) -> LinkFact:
        return LinkFact(index=msg["index"], name=msg.get("ifname"),
                        kind=msg.get(("linkinfo", "kind")), mac=msg.get("address"))

    async def _addresses(self, index: int) -> list[AddressFact]:
        request = ifaddrmsg()
        request["index"] = index
        out = []
        for msg in await self._filtered_dump(request, RTM_GETADDR):
            iface: IPInterface = ipaddress.ip_interface(
                f"{msg.get('address')}/{msg['prefixlen']}")
            out.append(AddressFact(index=msg["index"], interface=iface))
        return out

    async def _routes(self, oif: int | None = None) -> list[RouteFact]:
        """Routes of the main table, both families; only those via ``oif`` if given."""
        try:
            return await routedump.dump_routes((socket.AF_INET, socket.AF_INET6), MAIN_TABLE,
                                               oif)
        except OSError as exc:
            raise Failed(f"reading the routing table failed: {exc.strerror or exc} "
                         f"(errno {exc.errno})") from exc

    async def _link_by_index(self, index: int) -> Any | None:
        request = ifinfmsg()
        request["index"] = index
        return await self._get_link(request, f"#{index}")

    async def _name_of(self, index: int) -> str:
        try:
            msg = await self._link_by_index(index)
        except Failed:
            return f"#{index}"
        return str(msg.get("ifname")) if msg is not None else f"#{index}"

    async def interface_names(self) -> set[str]:
        return {str(msg.get("ifname")) for msg in await self._req("link", "dump")}

    async def inspect(self, bridge_name: str) -> BridgeState | None:
        """The bridge as the kernel has it; None when the name is free or is not a bridge
        (then it is not vnetd's bridge, whatever it is)."""
        msg = await self._link(bridge_name)
        if msg is None or msg.get(("linkinfo", "kind")) != "bridge":
            return None
        index = msg["index"]
        addrs = tuple(str(a.interface) for a in await self._addresses(index)
                      if not is_link_local(a.interface))
        return BridgeState(name=bridge_name, ifindex=index, up=bool(msg["flags"] & IFF_UP),
                           addresses=addrs, mac=msg.get("address"), mtu=msg.get("mtu"))

    # -- conflicts ----------------------------------------------------------------

    async def check_conflicts(self, definition: NetworkDefinition) -> None:
        name = validate_bridge_name(definition.bridge_name)
        own_index = None
        msg = await self._link(name)
        if msg is not None:
            check_existing_link(definition, self._link_fact(msg),
                                await self._addresses(msg["index"]))
            own_index = msg["index"]
        collision = find_route_collision(definition, await self._routes(), own_index)
        if collision is not None:
            names = {oif: await self._name_of(oif) for oif in collision.oifs}
            raise Conflict(collision.message(names))

    # -- building -----------------------------------------------------------------

    async def ensure(self, definition: NetworkDefinition) -> int:
        name = validate_bridge_name(definition.bridge_name)
        wanted = bridge_addresses(definition)  # may raise InvalidArgument: before touching
        msg = await self._link(name)
        created = msg is None
        if msg is not None:
            check_existing_link(definition, self._link_fact(msg),
                                await self._addresses(msg["index"]))
        else:
            msg, created = await self._create(definition, name)
        index: int = msg["index"]
        try:
            await self._reconcile_link(definition, name, msg)
            self._set_ipv6_sysctls(name, any(a.version == 6 for a in wanted),
                                   link_local(definition) is not None)
            # Up before the addresses: every running dnsmasq (bind-dynamic) wakes up for
            # each address and for each new link-scope route. With the bridge up first,
            # the prefix route comes in the same burst as the address, and each dnsmasq
            # wakes once instead of twice (with 100 running, one start cost 4-7 ms less).
            if not msg["flags"] & IFF_UP:
                await self._call(f"bringing bridge {name} up",
                                 "link", "set", index=index, state="up")
            await self._ensure_addresses(name, index, wanted)
            await self._ensure_routes(definition, name, index)
        except BaseException:
            # All or nothing for a bridge this call made; an adopted one is left as it
            # was found plus what was completed, for the next attempt to finish.
            if created:
                self._stp.forget(index)
                self._isolating.discard(index)
                await self._delete_quietly(name, index)
            raise
        self._managed[index] = name
        # Loop protection and port isolation must not depend on the caller running
        # watch(): without one, a private listener follows the ports that join.
        self._stp.guard(lambda: self._listen(None, None), bool(self._isolating))
        return index

    async def adopt_many(self, definitions: Sequence[NetworkDefinition]) -> BridgeSurvey:
        """Daemon start: judge every running network's bridge from one reading of the
        kernel (``vnetd.bridge.survey``) and take over the intact ones; the others are
        left out of the answer, for ``ensure`` to repair or refuse."""
        found = survey.survey(definitions, self._sysctl_root)
        self.take_over(found.intact.values())
        return BridgeSurvey(found.indexes, found.interfaces)

    async def intact(self, definitions: Sequence[NetworkDefinition]) -> dict[str, int]:
        return survey.survey(definitions, self._sysctl_root).indexes

    def take_over(self, bridges: Iterable[survey.Intact]) -> None:
        """Watch bridges that ``survey`` found intact, as ``ensure`` would have."""
        for item in bridges:
            if item.stp_pending is not None:
                self._stp.pending[item.index] = item.stp_pending
            else:
                self._stp.forget(item.index)
            if item.isolates_ports:
                self._isolating.add(item.index)
            else:
                self._isolating.discard(item.index)
            self._managed[item.index] = item.name
        self._stp.guard(lambda: self._listen(None, None), bool(self._isolating))

    async def _delete_quietly(self, name: str, index: int) -> None:
        try:
            await self._req("link", "del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                log.warning("could not delete half-built bridge %s: %s", name, _reason(exc))

    async def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._req(method, *args, **kwargs)
        except NetlinkError as exc:
            raise Failed(f"{what} failed: {_reason(exc)}") from exc

    async def _create(self, definition: NetworkDefinition, name: str) -> tuple[Any, bool]:
        """The new bridge's link message, and whether this call made it."""
        # No ports yet, so no STP yet (vnetd.bridge.stp): it starts with the first port
        # that is not a guest's.
        spec: dict[str, Any] = {"ifname": name, "kind": "bridge", "br_stp_state": 0,
                                "br_forward_delay": forward_delay_cs(definition,
                                                                     kernel_stp=False)}
        if definition.mac:
            spec["address"] = definition.mac
        if definition.mtu:
            spec["mtu"] = definition.mtu
        try:
            await self._req("link", "add", **spec)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise Failed(f"creating bridge {name} failed: {_reason(exc)}") from exc
            # Someone made it between our look and our add: judge it like any other.
            existing = await self._link(name)
            if existing is None:
                raise Failed(f"creating bridge {name} failed: {_reason(exc)}") from exc
            check_existing_link(definition, self._link_fact(existing),
                                await self._addresses(existing["index"]))
            return existing, False
        created = await self._link(name)
        if created is None:
            raise Failed(f"bridge {name} vanished right after it was created")
        return created, True

    async def _reconcile_link(self, definition: NetworkDefinition, name: str,
                              msg: Any) -> None:
        index = msg["index"]
        changes: dict[str, Any] = {}
        if definition.mtu and msg.get("mtu") != definition.mtu:
            changes["mtu"] = definition.mtu
        if definition.mac and (msg.get("address") or "").lower() != definition.mac.lower():
            changes["address"] = definition.mac
        if changes:
            await self._call(f"setting {', '.join(changes)} of bridge {name}",
                             "link", "set", index=index, **changes)
        await self._stp.reconcile(definition, name, msg)
        await self._reconcile_isolation(definition, name, index)

    def _set_ipv6_sysctls(self, name: str, has_ipv6: bool, own_link_local: bool) -> None:
        conf = self._sysctl_root / "net" / "ipv6" / "conf" / name
        if not conf.is_dir():
            return  # IPv6 is off in this kernel or namespace: nothing to tune
        for key, value in survey.ipv6_sysctls(has_ipv6, own_link_local).items():
            path = conf / key
            try:
                if path.read_text().strip() != value:
                    path.write_text(value)
            except OSError as exc:
                raise Failed(f"setting {path} to {value} failed: {exc.strerror}") from exc

    async def _ensure_addresses(self, name: str, index: int,
                                wanted: tuple[IPInterface, ...]) -> None:
        present = {a.interface for a in await self._addresses(index)}
        for iface in wanted:
            if iface in present:
                continue
            spec: dict[str, Any] = {"index": index, "address": str(iface.ip),
                                    "prefixlen": iface.network.prefixlen}
            if iface.version == 4 and iface.network.prefixlen <= 30:
                spec["broadcast"] = str(iface.network.broadcast_address)
            if iface.version == 6:
                spec["flags"] = IFA_F_NODAD
            try:
                await self._req("addr", "add", **spec)
            except NetlinkError as exc:
                if exc.code == errno.EEXIST:
                    continue
                raise Failed(f"adding address {iface} to bridge {name} failed: "
                             f"{_reason(exc)}") from exc

    async def _ensure_routes(self, definition: NetworkDefinition, name: str,
                             index: int) -> None:
        if not definition.routes:
            return
        present = await self._routes(oif=index)
        for route in definition.routes:
            network, metric = route.network, route_metric(route)
            if any(fact.network == network and fact.gateway == route.gateway
                   and fact.metric == metric and index in fact.oifs for fact in present):
                continue
            try:
                await self._req("route", "add", dst=str(network), gateway=route.gateway, oif=index,
                                priority=metric)
            except NetlinkError as exc:
                element = (f"<route address='{route.address}' gateway='{route.gateway}'> "
                           f"of network '{definition.name}'")
                if exc.code == errno.EEXIST:
                    raise Conflict(f"{element}: a route to {network} with metric {metric} "
                                   "already exists") from exc
                raise Failed(f"{element}: adding the route via bridge {name} failed: "
                             f"{_reason(exc)}") from exc

    # -- removing -----------------------------------------------------------------

    async def remove(self, bridge_name: str) -> None:
        """Make the bridge inert now (down, no addresses, name free) and let a worker
        thread do the kernel's teardown (tens of milliseconds, see ``linkdel``); close()
        waits for it. Nothing of it can conflict with a network started meanwhile."""
        msg = await self._link(bridge_name)
        if msg is None:
            return
        if msg.get(("linkinfo", "kind")) != "bridge":
            # Not a bridge, so not vnetd's: leave the other owner's interface alone.
            log.warning("not removing %s: it is a %s, not a bridge", bridge_name,
                        msg.get(("linkinfo", "kind")) or "device")
            return
        index = msg["index"]
        self._managed.pop(index, None)
        self._stp.forget(index)
        self._isolating.discard(index)
        try:
            # No addresses, down and renamed: no traffic and no routes through it, its
            # subnets and its name free for the next network, `ip link` or anyone else
            # when Destroy returns. The order is the cheap one for the other networks:
            # each running dnsmasq (bind-dynamic) lists the interfaces again after every
            # address or route change, 0.4 ms of CPU each, so 40 ms per change with 100
            # networks running. Taking the bridge down first removed its routes in one
            # such change and its addresses in a second one (84 ms of dnsmasq CPU per
            # Destroy); addresses first, then down and rename in one request, makes the
            # routes go with the addresses (44 ms).
            for fact in await self._addresses(index):
                await self._req("addr", "del", index=index, address=str(fact.interface.ip),
                                prefixlen=fact.interface.network.prefixlen)
            await self._req("link", "set", index=index, state="down",
                            ifname=setaside.name_for(index))
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return
            log.info("could not set bridge %s aside (%s); deleting it in place",
                     bridge_name, _reason(exc))
            await self._delete(index, bridge_name)
            return
        task = asyncio.ensure_future(self._delete(index, bridge_name))
        self._deleting[index] = task
        task.add_done_callback(lambda _t: self._deleting.pop(index, None))
        task.add_done_callback(_log_background_failure)

    async def _delete(self, index: int, bridge_name: str) -> None:
        try:
            await asyncio.to_thread(delete_link, index)
        except OSError as exc:
            raise Failed(f"deleting bridge {bridge_name} failed: {exc.strerror or exc} "
                         f"(errno {exc.errno})") from exc

    async def clear_set_aside(self, known: frozenset[str] | None = None) -> list[str]:
        return await asyncio.to_thread(clear_set_aside, known)

    async def _settle(self) -> None:
        """Wait until the bridges being deleted are gone."""
        while self._deleting:
            await asyncio.gather(*self._deleting.values(), return_exceptions=True)

    # -- ports --------------------------------------------------------------------

    async def _reconcile_isolation(self, definition: NetworkDefinition, name: str,
                                   index: int) -> None:
        """Flag the guest ports of a bridge whose network isolates them, and follow it."""
        if not definition.port_isolated:
            self._isolating.discard(index)
            return
        # Registered before the ports are read: a port joining from now on is seen by the
        # listener, one that joined before is in the dump.
        self._isolating.add(index)
        ports = [port_fact(m) for m in
                 await self._filtered_dump(ports_request(index), RTM_GETLINK)]
        for port in unisolated(ports):
            await self._flag(port.index, port.name, name)

    async def _flag(self, port_index: int, port_name: str, bridge: str) -> None:
        try:
            await self._call(f"isolating port {port_name} of bridge {bridge}", "brport",
                             "set", index=port_index, isolated=1)
        except Failed as exc:
            if getattr(exc.__cause__, "code", None) != errno.ENODEV:
                raise
            return  # gone meanwhile: nothing to isolate
        log.info("bridge %s: port %s isolated", bridge, port_name)

    def _flag_joined(self, port_index: int, port_name: str, bridge_index: int) -> None:
        """Flag a port the listener saw join, in a task: the loop must not wait for it."""
        if port_index in self._flagging:
            return
        task = asyncio.ensure_future(self._flag_if_unflagged(port_index, port_name,
                                                             bridge_index))
        self._flagging[port_index] = task
        task.add_done_callback(lambda _: self._flagging.pop(port_index, None))
        task.add_done_callback(_log_background_failure)

    async def _flag_if_unflagged(self, port_index: int, port_name: str,
                                 bridge_index: int) -> None:
        # Read again: a join sends several link events (master, up, carrier) that all
        # show the port unflagged, and the port may have left the bridge since.
        msg = await self._link_by_index(port_index)
        if msg is not None and joined_unisolated(msg, self._isolating) is not None:
            bridge = self._managed.get(bridge_index, f"#{bridge_index}")
            await self._flag(port_index, port_name, bridge)

    def _unflagged_before(self) -> list[tuple[int, str, int]]:
        """Guest ports of isolating bridges that joined before the listener listened."""
        if not self._isolating:
            return []
        try:
            links = rtdump.links()
        except OSError as exc:
            log.warning("cannot list interfaces to isolate guest ports: %s", exc)
            return []
        return [(link.index, link.name, link.master) for link in links
                if link.master in self._isolating
                and needs_flag(link.kind, link.port_isolated)]

    async def set_port_isolated(self, port_name: str, isolated: bool = True) -> None:
        """The kernel's per-port ``isolated`` flag (isolated ports forward only to ports
        that are not). Guest ports of a network with ``<port isolated='yes'>`` are
        flagged by the backend itself as they join; this sets or clears it on any port."""
        msg = await self._link(port_name)
        if msg is None:
            raise Failed(f"port {port_name} does not exist")
        await self._call(f"setting isolation of port {port_name}", "brport", "set",
                         index=msg["index"], isolated=int(isolated))

    # -- events -------------------------------------------------------------------

    async def watch(self, callback: WatchCallback,
                    ready: Callable[[], Awaitable[None] | None] | None = None) -> None:
        """Call ``callback`` whenever a bridge ensured by this backend, or one of its
        addresses, is removed by someone else; turn STP on when a port that is not a
        guest's joins one of them (``vnetd.bridge.stp``). Runs until cancelled;
        ``ready`` is called once the event socket listens."""
        await self._listen(callback, ready)

    async def _listen(self, callback: WatchCallback | None,
                      ready: Callable[[], Awaitable[None] | None] | None) -> None:
        events = AsyncIPRoute()
        counted = False
        try:
            await events.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
            if callback is not None:
                maybe_fail("link-watch")
                counted = True
                self._stp.watch_started()  # the private guard, if any, can go
            # Ports that joined before this socket listened.
            for index in self._joined_before():
                self._stp.schedule(index)
            for unflagged in self._unflagged_before():
                self._flag_joined(*unflagged)
            if ready is not None:
                result = ready()
                if result is not None:
                    await result
            while True:
                async for msg in events.get():
                    try:
                        self._on_link_event(msg, callback)
                    except Exception:
                        # One event that cannot be handled must not end the watch: loop
                        # protection, port isolation and drift repair all follow it.
                        log.exception("link event not handled")
        finally:
            if counted:
                self._stp.watch_ended()
            with contextlib.suppress(Exception):
                events.close()

    def _on_link_event(self, msg: Any, callback: WatchCallback | None) -> None:
        maybe_fail("link-event")
        joined = self._stp.notice(msg)
        if joined is not None:
            self._stp.schedule(joined)
        if self._isolating:
            if msg["header"]["type"] == RTM_DELLINK:
                self._isolating.discard(msg.get("index"))
            joined_port = joined_unisolated(msg, self._isolating)
            if joined_port is not None:
                self._flag_joined(joined_port, str(msg.get("ifname")),
                                  int(msg.get("master")))
        if callback is not None:
            event = self._event(msg)
            if event is not None:
                callback(event)

    def _joined_before(self) -> list[int]:
        """The bridges waiting for a non-edge port that may have one already (or are
        gone), from one dump: a recheck each is two requests, and after a daemon start
        with 100 networks the rechecks of every bridge kept the loop busy ~300 ms."""
        pending = list(self._stp.pending)
        if not pending:
            return []
        try:
            links = rtdump.links()
        except OSError as exc:
            log.warning("cannot list interfaces, rechecking every bridge: %s", exc)
            return pending
        kinds = {link.index: link.kind for link in links}
        non_edge = {link.master for link in links if link.master and not is_edge(link.kind)}
        return [index for index in pending
                if kinds.get(index) != "bridge" or index in non_edge]

    def _event(self, msg: Any) -> BridgeEvent | None:
        kind = msg["header"]["type"]
        index = msg.get("index")
        name = self._managed.get(index) if index is not None else None
        if name is None:
            return None
        if kind == RTM_DELLINK:
            self._managed.pop(index, None)
            return BridgeEvent(bridge=name, ifindex=index, what="link-removed")
        if kind == RTM_DELADDR:
            return BridgeEvent(bridge=name, ifindex=index, what="address-removed",
                               address=f"{msg.get('address')}/{msg['prefixlen']}")
        return None


if TYPE_CHECKING:

    def _implements_protocol(backend: NetlinkBridge) -> BridgeBackend:
        return backend  # mypy proves NetlinkBridge fits the Protocol
