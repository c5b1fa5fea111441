"""Adoption at daemon start: which running networks' bridges are exactly as
``NetlinkBridge.ensure`` would leave them?

``ensure`` on an intact bridge changes nothing, but asks the kernel five times per bridge
(link, addresses twice, ports, link again) through pyroute2: with 100 running networks
that was ~550 ms of a 1.7 s restart, plus ~100 ms to import pyroute2 at all. ``survey``
reads every link and every address once (``vnetd.bridge.rtdump``, no pyroute2) and the
IPv6 sysctls of each bridge, and ``check`` says, per network, whether ``ensure`` would
have anything to do. When it would (or would refuse: a conflict, a bad name), the
network is left to ``ensure``, which repairs or reports exactly as before; so the check
may say "not intact" too often, never too rarely.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import Conflict, InvalidArgument
from ..model import NetworkDefinition
from . import rtdump
from .conflicts import (
    AddressFact,
    LinkFact,
    bridge_addresses,
    check_existing_link,
    link_local,
    validate_bridge_name,
)
from .isolation import unisolated
from .stp_rules import (
    KERNEL_STP_OFF,
    KERNEL_STP_ON,
    USER_STP,
    PortFact,
    Wanted,
    forward_delay_cs,
    is_edge,
    stp_requested,
)

IFF_UP = 0x1


#: Every sysctl ``ensure`` may write under net/ipv6/conf/BRIDGE.
SYSCTL_KEYS = ("disable_ipv6", "accept_ra", "autoconf", "accept_dad", "addr_gen_mode")


def ipv6_sysctls(has_ipv6: bool, own_link_local: bool = False) -> dict[str, str]:
    """What ``ensure`` writes under net/ipv6/conf/BRIDGE (see ``vnetd.bridge.netlink``).
    ``own_link_local``: vnetd adds the link-local address itself, so the kernel must
    make none (addr_gen_mode 1: IN6_ADDR_GEN_MODE_NONE)."""
    wanted = {"disable_ipv6": "0" if has_ipv6 else "1", "accept_ra": "0", "autoconf": "0",
              "accept_dad": "0"}
    if own_link_local:
        wanted["addr_gen_mode"] = "1"
    return wanted


@dataclass(frozen=True)
class Intact:
    """A bridge ``ensure`` would leave alone, and how edge-port STP must follow it."""

    index: int
    name: str
    stp_pending: Wanted | None  # watched for a non-edge port joining; None: not watched
    isolates_ports: bool = False  # <port isolated='yes'>: joining guest ports are flagged


@dataclass(frozen=True)
class Survey:
    """What one read of the kernel found: the intact bridges and every name in use."""

    intact: dict[str, Intact]  # by network name
    interfaces: frozenset[str]  # every interface name in the namespace

    @property
    def indexes(self) -> dict[str, int]:
        """Network name -> ifindex of its intact bridge."""
        return {name: item.index for name, item in self.intact.items()}


def survey(definitions: Sequence[NetworkDefinition],
           sysctl_root: Path = Path("/proc/sys")) -> Survey:
    """Read the kernel once and ``check`` every network (raises OSError when the
    kernel cannot be read: the caller then goes network by network)."""
    links = rtdump.links()
    addresses = rtdump.addresses()
    by_name = {link.name: link for link in links}
    ports: dict[int, list[PortFact]] = {}
    for link in links:
        if link.master:
            ports.setdefault(link.master, []).append(
                PortFact(link.index, link.name, link.kind, link.port_state,
                         link.port_isolated))
    own: dict[int, list[AddressFact]] = {}
    for address in addresses:
        own.setdefault(address.index, []).append(address)
    intact = {}
    for definition in definitions:
        found = by_name.get(definition.bridge_name or "")
        if found is None:
            continue
        result = check(definition, found, own.get(found.index, []),
                       ports.get(found.index, []), _sysctls(sysctl_root, found.name))
        if result is not None:
            intact[definition.name] = result
    return Survey(intact, frozenset(by_name))


def _sysctls(root: Path, bridge: str) -> dict[str, str] | None:
    """The bridge's IPv6 sysctls; None when the kernel has no IPv6 (nothing to tune).
    Plain os calls: through pathlib the 400 reads of 100 bridges took ~35 ms."""
    conf = f"{root}/net/ipv6/conf/{bridge}/"
    values = {}
    for key in SYSCTL_KEYS:
        try:
            fd = os.open(conf + key, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not os.path.isdir(conf):
                return None
            values[key] = ""
            continue
        except OSError:
            values[key] = ""  # unreadable: not as wanted, ensure reports it
            continue
        try:
            values[key] = os.read(fd, 64).decode(errors="replace").strip()
        except OSError:
            values[key] = ""
        finally:
            os.close(fd)
    return values


def check(definition: NetworkDefinition, link: rtdump.Link | None,
          addresses: Iterable[AddressFact], ports: Iterable[PortFact],
          sysctls: Mapping[str, str] | None) -> Intact | None:
    """``Intact`` when ``ensure`` would change nothing, None when it has work to do or an
    error to report. ``ports`` are the link's ports, ``sysctls`` its IPv6 settings (None
    when the kernel has no IPv6)."""
    if link is None or definition.routes:
        return None  # missing, or routes to compare: ensure's own reads
    own = [a for a in addresses if a.index == link.index]
    try:
        name = validate_bridge_name(definition.bridge_name)
        wanted = bridge_addresses(definition)
        if name != link.name or not check_existing_link(
                definition, LinkFact(link.index, link.name, link.kind, link.mac), own):
            return None
    except (Conflict, InvalidArgument):
        return None  # ensure raises the same error, with its own words
    if not link.flags & IFF_UP or (definition.mtu and link.mtu != definition.mtu):
        return None
    if not set(wanted) <= {a.interface for a in own}:
        return None
    if sysctls is not None:
        settings = ipv6_sysctls(any(a.version == 6 for a in wanted),
                                link_local(definition) is not None)
        if any(sysctls.get(key) != value for key, value in settings.items()):
            return None
    ports = list(ports)
    result = _stp(definition, link, ports)
    if result is None or not definition.port_isolated:
        return result
    if unisolated(ports):
        return None  # a guest port joined while vnetd was stopped: ensure flags it
    return dataclasses.replace(result, isolates_ports=True)


def _stp(definition: NetworkDefinition, link: rtdump.Link,
         ports: list[PortFact]) -> Intact | None:
    """The outcome of ``EdgeStp.reconcile`` when it would change nothing."""
    current = link.stp_state or KERNEL_STP_OFF
    delay_off = forward_delay_cs(definition, kernel_stp=False)
    if not stp_requested(definition):
        if current != KERNEL_STP_OFF or link.forward_delay != delay_off:
            return None
        return Intact(link.index, link.name, None)
    if current == USER_STP:
        return Intact(link.index, link.name, None)  # a userspace STP daemon owns it
    wanted = Wanted(link.name, forward_delay_cs(definition, kernel_stp=True), delay_off)
    on = any(not is_edge(p.kind) for p in ports)
    if current != (KERNEL_STP_ON if on else KERNEL_STP_OFF):
        return None
    if link.forward_delay != (wanted.delay_on if on else wanted.delay_off):
        return None
    # Once STP runs the bridge is no longer watched for joining ports (as reconcile).
    return Intact(link.index, link.name, None if on else wanted)
