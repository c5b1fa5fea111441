"""Wires the concrete backends, the store and the manager together."""

from __future__ import annotations

from .bridge.netlink import NetlinkBridge
from .dnsmasq.supervisor import DnsmasqSupervisor
from .firewall.nft import NftFirewall
from .manager import Manager
from .netxml import format_network, parse_network
from .paths import Paths
from .runner import NetworkRunner
from .store import Store


def build_manager(paths: Paths) -> Manager:
    store = Store(paths, parse_network, format_network)
    runner = NetworkRunner(NetlinkBridge(), NftFirewall(), DnsmasqSupervisor(paths))
    return Manager(store, runner)
