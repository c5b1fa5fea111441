"""``<port isolated='yes'>``: the network's guests reach the host and the outside, not
each other.

The kernel's per-port ``isolated`` flag makes a bridge port forward only to ports that
are not isolated. libvirt sets it on a guest's tap when it plugs the tap into the
bridge. vnetd plugs no guest ports: whoever does (libvirt's qemu driver, a container
runtime, ``ip link set … master``) enslaves a tap or a veth, and vnetd flags it:

* ``ensure`` (start, adoption, repair) flags every edge port (a tap or a veth, the
  ports edge-port STP calls a guest's) already on the bridge;
* the backend's link listener sees each port that joins later (an ``RTM_NEWLINK`` whose
  master is such a bridge) and flags it within milliseconds;
* at daemon start, a port that joined while vnetd was stopped makes the bridge "not
  intact" in the survey, so that ``ensure`` flags it.

Other ports (a physical NIC, a bond, a VLAN device) are not flagged, as libvirt flags
only the guests' taps: the isolated guests still reach what those ports lead to. A port
forwards from the moment it joins until it is flagged, a few milliseconds in which the
guest behind a freshly plugged tap is not running yet (libvirt, too, flags the tap after
enslaving it). vnetd never clears the flag.

Pure rules only (no pyroute2): the survey at daemon start uses them.
"""

from __future__ import annotations

import socket
from collections.abc import Container, Iterable
from typing import Any

from .stp_rules import PortFact, is_edge

RTM_NEWLINK = 16


def needs_flag(kind: str | None, isolated: bool | int | None) -> bool:
    """A port of an isolating bridge that vnetd must flag: a guest's, not flagged yet."""
    return is_edge(kind) and not isolated


def unisolated(ports: Iterable[PortFact]) -> list[PortFact]:
    """The guests' ports among ``ports`` that are not flagged yet."""
    return [port for port in ports if needs_flag(port.kind, port.isolated)]


def joined_unisolated(msg: Any, bridges: Container[int]) -> int | None:
    """The index of the unflagged guest port a link event shows on one of ``bridges``.

    Only AF_UNSPEC link messages count, as for STP: the bridge's AF_BRIDGE port
    notifications carry neither the port's kind nor its flags."""
    if msg["header"]["type"] != RTM_NEWLINK or msg.get("family") != socket.AF_UNSPEC:
        return None
    master = msg.get("master")
    if master is None or master not in bridges:
        return None
    if not needs_flag(msg.get(("linkinfo", "kind")),
                      msg.get(("linkinfo", "slave_data", "IFLA_BRPORT_ISOLATED"))):
        return None
    return int(msg["index"])
