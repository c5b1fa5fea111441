"""The small interfaces between the network lifecycle and the three data-plane backends.

The manager and the runner depend only on these protocols; the concrete classes live
in ``vnetd.bridge``, ``vnetd.firewall`` and ``vnetd.dnsmasq``. Every method is
idempotent ("ensure"/"remove"), so a start after a crash completes what is missing
and a stop after a crash removes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .model import NetworkDefinition

if TYPE_CHECKING:
    from .firewall.foreign import ForeignDrop


@dataclass(frozen=True)
class BridgeState:
    """What the kernel says about a bridge."""

    name: str
    ifindex: int
    up: bool
    addresses: tuple[str, ...]  # "address/prefix" strings as ip_interface accepts them
    mac: str | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class BridgeSurvey:
    """``BridgeBackend.adopt_many``'s answer."""

    intact: dict[str, int]  # network name -> ifindex of its bridge, taken over as it was
    interfaces: frozenset[str]  # every interface name in the namespace at that moment


class BridgeBackend(Protocol):
    async def check_conflicts(self, definition: NetworkDefinition) -> None:
        """Raise ``Conflict`` before anything is touched when the bridge name is taken by an
        interface that is not this network's bridge, or a subnet of the definition overlaps a
        route of the host on another interface ("Network is already in use by interface X")."""

    async def ensure(self, definition: NetworkDefinition) -> int:
        """Create or complete the bridge (MAC, MTU, STP, delay, addresses, up, routes);
        return its ifindex."""

    async def remove(self, bridge_name: str) -> None:
        """Delete the bridge and what hangs off it; no error when it is already gone."""

    async def inspect(self, bridge_name: str) -> BridgeState | None:
        """The bridge as the kernel has it, or None when it does not exist."""

    async def interface_names(self) -> set[str]:
        """Names of every interface in the namespace (for virbrN allocation)."""

    async def adopt_many(self, definitions: Sequence[NetworkDefinition]) -> BridgeSurvey:
        """Daemon start: take over, as ``ensure`` would, every bridge of these networks
        that is exactly as ``ensure`` leaves it, reading the kernel once for all; those
        left out of ``intact`` need ``ensure``."""

    async def intact(self, definitions: Sequence[NetworkDefinition]) -> dict[str, int]:
        """Read only: network name -> ifindex of its bridge, for those whose bridge is
        exactly as ``ensure`` leaves it (the others: missing, changed or not judged)."""

    async def clear_set_aside(self, known: frozenset[str] | None = None) -> list[str]:
        """Delete bridges a stop set aside and a crash left (names deleted); ``known``:
        interface names already read, to skip a dump when none qualifies."""
        ...

    async def close(self) -> None: ...


class FirewallBackend(Protocol):
    def apply(self, definition: NetworkDefinition) -> None:
        """Install or replace this network's rules in one atomic transaction (and turn on
        the forwarding sysctls it needs). On failure the ruleset is as it was."""

    def guard(self, definition: NetworkDefinition) -> None:
        """Install only what keeps the network's dnsmasq from answering on other
        interfaces (``vnetd.listeners``), in one transaction; called before dnsmasq
        starts. A no-op for a network without it. ``apply`` installs it too."""

    def remove(self, network_name: str) -> None:
        """Remove this network's rules atomically; no error when there are none."""

    def verify(self, definition: NetworkDefinition) -> bool:
        """True when the network's rules are in place exactly as ``apply`` builds them."""

    def verify_many(self, definitions: Sequence[NetworkDefinition]) -> dict[str, bool]:
        """``verify`` for many networks at once, reading the kernel's state once."""

    def installed_networks(self) -> set[str]:
        """Names of networks that have rules in vnetd's table (for leftover cleanup)."""

    def verify_installed(self, definitions: Sequence[NetworkDefinition]
                         ) -> tuple[dict[str, bool], set[str]]:
        """``verify_many`` and ``installed_networks`` from one reading of the kernel's
        state (daemon start); safe to call from a worker thread."""

    def foreign_drops(self) -> list[ForeignDrop]:
        """Chains outside vnetd's control that drop what they do not accept, so also
        guests' traffic (reported with their fix, never changed); one listing."""


ExitCallback = Callable[[str, int | None], None]
"""Called with (network name, exit status or None) when a supervised dnsmasq ends on its own."""


class DhcpDnsBackend(Protocol):
    def needed(self, definition: NetworkDefinition) -> bool:
        """False when the network needs no dnsmasq (no DHCP and DNS disabled)."""

    async def start(self, definition: NetworkDefinition) -> int:
        """Write the config files, start dnsmasq, wait until it answers; return its pid."""

    async def stop(self, network_name: str) -> None:
        """Stop the network's dnsmasq (SIGTERM, then SIGKILL) and remove its runtime files
        (the lease file is kept); no error when none runs."""

    async def reload(self, definition: NetworkDefinition) -> None:
        """Rewrite the hosts files and SIGHUP dnsmasq (no restart, leases kept)."""

    async def adopt(self, definition: NetworkDefinition, pid: int) -> bool:
        """Watch an already running dnsmasq of this network (after a daemon restart);
        False when ``pid`` is not that dnsmasq."""

    def pid(self, network_name: str) -> int | None: ...

    def set_exit_callback(self, callback: ExitCallback) -> None:
        """Called when the supervisor gives up restarting a dnsmasq that keeps dying."""

    def set_restart_callback(self, callback: Callable[[str, int], None]) -> None:
        """Called with (network name, new pid) after an automatic restart."""

    def close(self) -> None:
        """Stop watching; running dnsmasq processes keep running (daemon shutdown)."""
