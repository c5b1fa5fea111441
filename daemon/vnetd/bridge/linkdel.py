"""Deleting a network interface from a worker thread.

Why a thread: the kernel tears a bridge down inside the ``sendmsg`` of the RTM_DELLINK
request (``unregister_netdevice`` waits for RCU grace periods: 35-55 ms per bridge on
the reference machine, measured with ``ip link del``). On the event loop's netlink
socket that stalls every client of the daemon for as long; Python's socket calls drop
the GIL, so a thread with its own socket lets the loop go on.

Why not pyroute2 here: its synchronous ``IPRoute`` runs a private event loop per
socket; one fixed 32-byte request and its acknowledgement do not need it.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from .rtdump import HEADER as _HEADER
from .rtdump import IFINFO as _IFINFO
from .rtdump import NLM_F_REQUEST, NLMSG_ERROR

RTM_DELLINK = 17
NLM_F_ACK = 0x4


def delete_link(index: int) -> None:
    """Delete interface ``index`` in this thread's network namespace; an interface that
    is already gone counts as deleted. Raises OSError with the kernel's errno."""
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    request = _HEADER.pack(_HEADER.size + len(body), RTM_DELLINK,
                           NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       socket.NETLINK_ROUTE) as sock:
        sock.send(request)
        reply = sock.recv(65536)
    _length, kind, _flags, _seq, _pid = _HEADER.unpack_from(reply)
    if kind != NLMSG_ERROR:
        raise OSError(errno.EPROTO, f"unexpected netlink reply type {kind}")
    (code,) = struct.unpack_from("=i", reply, _HEADER.size)
    if code < 0 and -code != errno.ENODEV:
        raise OSError(-code, os.strerror(-code))
