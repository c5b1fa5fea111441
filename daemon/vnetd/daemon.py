"""Wires the concrete backends, the store and the manager together."""

from __future__ import annotations

from .bridge.netlink import NetlinkBridge
from .dnsmasq.supervisor import DnsmasqSupervisor
from .drift import DriftRepair
from .firewall.nft import NftFirewall
from .firewall.watch import affected_networks
from .firewall.watch import watch as nft_watch
from .manager import Manager
from .netxml import format_network, parse_network
from .paths import Paths
from .runner import NetworkRunner
from .store import Store


def build_manager(paths: Paths) -> tuple[Manager, DriftRepair]:
    store = Store(paths, parse_network, format_network)
    bridge = NetlinkBridge()
    runner = NetworkRunner(bridge, NftFirewall(), DnsmasqSupervisor(paths))
    manager = Manager(store, runner)
    drift = DriftRepair(manager, firewall_watch=nft_watch, affected_networks=affected_networks,
                        bridge_watch=bridge.watch)
    return manager, drift
