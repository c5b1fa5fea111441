"""The main routing table, read over rtnetlink without pyroute2's message objects.

Why: every network start checks its subnets against the host's routes (libvirt's
networkCheckRouteCollision), so each start reads the whole main table of both
families. pyroute2 decodes every attribute of every route into its message objects,
~85 us per route on the reference machine: with 40 running networks the two dumps
took 7.6 ms of an 11.5 ms check, and the cost grew with every network started. Only
six attributes matter here and they are read straight from the bytes (a few us per
route). The request asks the kernel to filter (strict checking: table, and the output
interface when given), as ``NetlinkBridge._filtered_dump`` does.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct

from ..model import IPNetwork
from .conflicts import RouteFact
from .rtdump import HEADER as _NLMSGHDR
from .rtdump import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
from .rtdump import attributes as _attrs

RTM_GETROUTE = 26
SOL_NETLINK, NETLINK_GET_STRICT_CHK = 270, 12
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 9, 15

_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_RTNEXTHOP = struct.Struct("=HBBi")
_U32 = struct.Struct("=I")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _address(family: int, raw: bytes | None) -> str | None:
    return None if raw is None else socket.inet_ntop(family, raw)


def _multipath_oifs(raw: bytes) -> tuple[int, ...]:
    oifs, pos = [], 0
    while pos + _RTNEXTHOP.size <= len(raw):
        length, _flags, _hops, ifindex = _RTNEXTHOP.unpack_from(raw, pos)
        if length < _RTNEXTHOP.size:
            break
        if ifindex:
            oifs.append(ifindex)
        pos += _align(length)
    return tuple(oifs)


_networks: dict[tuple[int, bytes | None, int], IPNetwork] = {}
NETWORKS_KEPT = 4096


def _network(family: int, raw: bytes | None, dst_len: int) -> IPNetwork:
    """A route's destination, parsed once: the same routes come back at every start
    (each running network's subnet), and ``ip_network`` from text was ~12 us a route,
    1.2 ms of each start's check with 100 networks running. The objects are immutable."""
    key = (family, raw, dst_len)
    network = _networks.get(key)
    if network is None:
        if len(_networks) >= NETWORKS_KEPT:
            _networks.clear()
        dst = _address(family, raw) or ("::" if family == socket.AF_INET6 else "0.0.0.0")
        network = _networks[key] = ipaddress.ip_network(f"{dst}/{dst_len}", strict=False)
    return network


def parse_route(data: bytes, start: int, end: int) -> RouteFact:
    """One RTM_NEWROUTE message body (after the netlink header)."""
    family, dst_len, _src, _tos, table, _proto, _scope, kind, _flags = \
        _RTMSG.unpack_from(data, start)
    attrs = _attrs(data, start + _RTMSG.size, end)
    if RTA_OIF in attrs:
        oifs: tuple[int, ...] = (struct.unpack("=i", attrs[RTA_OIF])[0],)
    else:
        oifs = _multipath_oifs(attrs.get(RTA_MULTIPATH, b""))
    priority = attrs.get(RTA_PRIORITY)
    return RouteFact(
        network=_network(family, attrs.get(RTA_DST), dst_len), oifs=oifs,
        gateway=_address(family, attrs.get(RTA_GATEWAY)),
        metric=_U32.unpack(priority)[0] if priority else 0,
        table=_U32.unpack(attrs[RTA_TABLE])[0] if RTA_TABLE in attrs else table, type=kind)


def request(family: int, table: int, oif: int | None, seq: int = 1) -> bytes:
    body = _RTMSG.pack(family, 0, 0, 0, table if table < 256 else 0, 0, 0, 0, 0)
    attrs = b""
    if table >= 256:
        attrs += _RTATTR.pack(8, RTA_TABLE) + _U32.pack(table)
    if oif is not None:
        attrs += _RTATTR.pack(8, RTA_OIF) + struct.pack("=i", oif)
    length = _NLMSGHDR.size + len(body) + len(attrs)
    return _NLMSGHDR.pack(length, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body \
        + attrs


async def dump_routes(families: tuple[int, ...], table: int,
                      oif: int | None = None) -> list[RouteFact]:
    """The routes of ``table`` (through ``oif`` if given) for each family, in order.
    Raises OSError with the kernel's errno if it refuses the dump."""
    loop = asyncio.get_running_loop()
    out: list[RouteFact] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                       | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        for seq, family in enumerate(families, start=1):
            await loop.sock_sendall(sock, request(family, table, oif, seq))
            while not await _read_batch(loop, sock, seq, out):
                pass
    return out


async def _read_batch(loop: asyncio.AbstractEventLoop, sock: socket.socket, seq: int,
                      out: list[RouteFact]) -> bool:
    """Read one datagram of the dump into ``out``; True once the dump is complete."""
    data = await loop.sock_recv(sock, 1 << 16)
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size:
            break
        if msg_seq == seq:
            if kind == NLMSG_DONE:
                return True
            if kind == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, pos + _NLMSGHDR.size)
                if code:
                    raise OSError(-code, os.strerror(-code))
                return True
            if kind == 24:  # RTM_NEWROUTE
                out.append(parse_route(data, pos + _NLMSGHDR.size, pos + length))
        pos += _align(length)
    if not data:
        raise OSError(errno.EPIPE, "netlink socket closed")
    return False
