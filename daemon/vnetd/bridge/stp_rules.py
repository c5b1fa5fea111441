"""The pure rules of edge-port STP (``vnetd.bridge.stp`` has the why and the applier).

Kept apart from the applier, which needs pyroute2, so that adoption at daemon start
(``vnetd.bridge.survey``) can judge a bridge without importing pyroute2 (~100 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import NetworkDefinition

EDGE_KINDS = frozenset({"tun", "veth"})
STP_MIN_DELAY_CS = 200  # BR_MIN_FORWARD_DELAY, enforced while STP runs
STP_MAX_DELAY_CS = 3000
BR_STATE_DISABLED = 0
KERNEL_STP_OFF, KERNEL_STP_ON, USER_STP = 0, 1, 2


def stp_requested(definition: NetworkDefinition) -> bool:
    """``<bridge stp>`` defaults to on."""
    return not (definition.bridge and definition.bridge.stp is False)


def forward_delay_cs(definition: NetworkDefinition, kernel_stp: bool) -> int:
    """The forward delay the kernel will hold, in centiseconds: while STP runs it clamps
    the delay to 2..30 s (``br_stp_start``), so "delay 0" reads back as 200."""
    delay = definition.bridge.delay if definition.bridge and definition.bridge.delay else 0
    cs = delay * 100
    if kernel_stp:
        cs = min(max(cs, STP_MIN_DELAY_CS), STP_MAX_DELAY_CS)
    return cs


def is_edge(kind: str | None) -> bool:
    """A guest's NIC: a tap or a veth. Anything else may lead to another segment."""
    return kind in EDGE_KINDS


@dataclass(frozen=True)
class PortFact:
    """A port of a bridge: its kind decides whether it is a guest's (edge) port."""

    index: int
    name: str
    kind: str | None
    state: int | None  # IFLA_BRPORT_STATE
    isolated: bool | None = None  # IFLA_BRPORT_ISOLATED (``vnetd.bridge.isolation``)


@dataclass(frozen=True)
class Wanted:
    """A bridge whose definition asks for STP."""

    name: str
    delay_on: int  # centiseconds, clamped
    delay_off: int
