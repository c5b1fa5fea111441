"""Link notifications as the kernel sends them, built and decoded by pyroute2 itself, for
the rules that read them (edge-port STP, port isolation)."""

from __future__ import annotations

import socket
from typing import Any

from pyroute2.netlink.rtnl import RTM_NEWLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg


def link_event(kind: str | None, master: int | None, *, isolated: int | None = None,
               msg_type: int = RTM_NEWLINK, family: int = socket.AF_UNSPEC) -> Any:
    """Port 9 (``port0``) of ``master``; ``isolated``: its IFLA_BRPORT_ISOLATED, if any."""
    msg = ifinfmsg()
    msg["family"] = family
    msg["index"] = 9
    attrs: list[Any] = [("IFLA_IFNAME", "port0")]
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    info: list[Any] = [("IFLA_INFO_SLAVE_KIND", "bridge")]
    if kind is not None:
        info.insert(0, ("IFLA_INFO_KIND", kind))
    if isolated is not None:
        info.append(("IFLA_INFO_SLAVE_DATA",
                     {"attrs": [("IFLA_BRPORT_STATE", 3), ("IFLA_BRPORT_ISOLATED", isolated)]}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    msg["attrs"] = attrs
    msg["header"]["type"] = msg_type
    msg.encode()
    decoded = ifinfmsg(msg.data)
    decoded.decode()
    return decoded
