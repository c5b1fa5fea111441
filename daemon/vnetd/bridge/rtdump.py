"""Every link and every address of the namespace, read with a plain rtnetlink socket.

Used once, at daemon start, to judge all running networks' bridges at the same time
(``vnetd.bridge.survey``). Why not pyroute2 here: importing it costs ~100 ms and decoding
a dump of 100 bridges through its message classes ~90 ms more; reading the few
attributes adoption needs with ``struct`` takes a few milliseconds, and pyroute2 is then
imported after the daemon answers (for the event watch), off the restart's critical path.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conflicts import AddressFact

RTM_GETLINK = 18
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_DATA = 1, 2, 5
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
IFLA_BRPORT_STATE = 1
IFLA_BRPORT_ISOLATED = 33
IFA_ADDRESS = 1

HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg
_IFADDR = struct.Struct("=BBBBI")  # struct ifaddrmsg
_ATTR = struct.Struct("=HH")  # struct rtattr
_U32 = struct.Struct("=I")
_BUFFER = 1 << 18  # larger than any dump part the kernel sends (32 KiB at most)
_ATTEMPTS = 3


@dataclass(frozen=True)
class Link:
    """One link of an RTM_GETLINK dump, with its bridge and bridge-port details."""

    index: int
    name: str
    flags: int  # IFF_*
    kind: str | None  # IFLA_INFO_KIND; None for devices without one
    mac: str | None
    mtu: int | None
    master: int | None
    stp_state: int | None  # a bridge's IFLA_BR_STP_STATE
    forward_delay: int | None  # a bridge's IFLA_BR_FORWARD_DELAY, centiseconds
    port_state: int | None  # a bridge port's IFLA_BRPORT_STATE
    port_isolated: bool | None = None  # a bridge port's IFLA_BRPORT_ISOLATED


def attributes(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    """The attributes (rtattr) between ``offset`` and ``end``, by type."""
    found: dict[int, bytes] = {}
    while offset + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found[kind & NLA_TYPE_MASK] = data[offset + _ATTR.size: offset + length]
        offset += (length + 3) & ~3
    return found


def _u32(value: bytes | None) -> int | None:
    return _U32.unpack_from(value)[0] if value is not None and len(value) >= 4 else None


def _text(value: bytes | None) -> str | None:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value is not None else None


def _dump_once(kind: int, body: bytes) -> tuple[list[bytes], bool]:
    """The messages of one dump, and whether the kernel flagged it inconsistent (the
    table changed while it was being dumped)."""
    request = HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, 1,
                           0) + body
    messages: list[bytes] = []
    interrupted = False
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       socket.NETLINK_ROUTE) as sock:
        sock.send(request)
        while True:
            data = sock.recv(_BUFFER)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, mtype, flags, _seq, _pid = HEADER.unpack_from(data, offset)
                if length < HEADER.size:
                    raise OSError(errno.EPROTO, "malformed netlink message")
                interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_DONE:
                    return messages, interrupted
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + HEADER.size)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                else:
                    messages.append(data[offset + HEADER.size: offset + length])
                offset += (length + 3) & ~3
            if not data:
                raise OSError(errno.EPROTO, "netlink dump ended without NLMSG_DONE")


def _dump(kind: int, body: bytes) -> list[bytes]:
    for _ in range(_ATTEMPTS):
        messages, interrupted = _dump_once(kind, body)
        if not interrupted:
            return messages
    raise OSError(errno.EAGAIN, "the kernel's tables kept changing during the dump")


def links() -> list[Link]:
    out = []
    for msg in _dump(RTM_GETLINK, IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        _family, _type, index, flags, _change = IFINFO.unpack_from(msg)
        attrs = attributes(msg, IFINFO.size, len(msg))
        info = attrs.get(IFLA_LINKINFO)
        nested = attributes(info, 0, len(info)) if info is not None else {}
        data = nested.get(IFLA_INFO_DATA)
        bridge = attributes(data, 0, len(data)) if data is not None else {}
        slave = nested.get(IFLA_INFO_SLAVE_DATA)
        port = attributes(slave, 0, len(slave)) if slave is not None else {}
        mac = attrs.get(IFLA_ADDRESS)
        state = port.get(IFLA_BRPORT_STATE)
        isolated = port.get(IFLA_BRPORT_ISOLATED)
        out.append(Link(
            index=index, name=_text(attrs.get(IFLA_IFNAME)) or f"#{index}", flags=flags,
            kind=_text(nested.get(IFLA_INFO_KIND)),
            mac=":".join(f"{b:02x}" for b in mac) if mac else None,
            mtu=_u32(attrs.get(IFLA_MTU)), master=_u32(attrs.get(IFLA_MASTER)),
            stp_state=_u32(bridge.get(IFLA_BR_STP_STATE)),
            forward_delay=_u32(bridge.get(IFLA_BR_FORWARD_DELAY)),
            port_state=state[0] if state else None,
            port_isolated=bool(isolated[0]) if isolated else None))
    return out


def addresses() -> list[AddressFact]:
    # Imported here: a daemon start with no running network reads only links (for the
    # set-aside bridges), and the conflict rules' classes cost ~4.5 ms to create.
    from .conflicts import AddressFact

    out = []
    for msg in _dump(RTM_GETADDR, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        _family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(msg)
        raw = attributes(msg, _IFADDR.size, len(msg)).get(IFA_ADDRESS)
        if raw is None or len(raw) not in (4, 16):
            continue
        address = ipaddress.ip_address(raw)
        out.append(AddressFact(index, ipaddress.ip_interface(f"{address}/{prefixlen}")))
    return out
