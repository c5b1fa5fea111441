"""What a network's dnsmasq listens on at the bridge's own addresses.

dnsmasq must answer DNS and TFTP only to packets that arrive on its bridge (or from the
host itself, on ``lo``): a query that reaches the bridge's address from the uplink or
from another network's bridge would make it an open resolver and an amplifier
(CVE-2012-3411). libvirt gets this from dnsmasq's ``bind-dynamic``, which checks the
arrival interface itself; but a ``bind-dynamic`` dnsmasq also wakes up for every address
added or removed anywhere on the host and lists every interface, so with N networks each
start and stop costs N such wake-ups (dev lab, 100 networks running: adding an address
to a new bridge took 23.9 ms, 4.5 ms with ``bind-interfaces``). With ``bind-interfaces``
dnsmasq binds once and sleeps, but no longer checks where a packet came from: vnetd's
firewall drops those packets instead (``firewall.rules``: the input chain and its sets),
and has its part in place before dnsmasq starts.

Both sides read this module, so the bind mode and the guard cannot disagree.
"""

from __future__ import annotations

from .model import ForwardMode, NetworkDefinition

NO_DNSMASQ_MODES = frozenset({ForwardMode.BRIDGE, ForwardMode.PRIVATE, ForwardMode.VEPA,
                              ForwardMode.PASSTHROUGH, ForwardMode.HOSTDEV})
#: The modes vnetd's firewall installs rules for (``firewall.rules.build_network``).
FIREWALLED_MODES = frozenset({"nat", "route", "isolated"})

DNS_PORT = 53
TFTP_PORT = 69


def runs_dnsmasq(definition: NetworkDefinition) -> bool:
    """libvirt's networkStartDhcpDaemon rules: an address on the bridge, and DHCP (ranges
    or hosts) or DNS (on unless ``<dns enable='no'>``) to serve there."""
    forward = definition.forward
    if forward is not None and forward.effective_mode in NO_DNSMASQ_MODES:
        return False
    if not definition.ips:
        return False
    if any(ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts) for ip in definition.ips):
        return True
    return definition.dns is None or definition.dns.enabled


def listen_ports(definition: NetworkDefinition) -> tuple[tuple[str, int], ...]:
    """(protocol, port) of the sockets dnsmasq binds to the bridge's addresses; DHCP's
    are not among them (dnsmasq binds those to the device and checks the interface)."""
    if not runs_dnsmasq(definition):
        return ()
    ports: list[tuple[str, int]] = []
    if definition.dns is None or definition.dns.enabled:
        ports += [("tcp", DNS_PORT), ("udp", DNS_PORT)]
    if any(ip.tftp_root is not None for ip in definition.ips_of(4)):
        ports.append(("udp", TFTP_PORT))
    return tuple(ports)


def guarded(definition: NetworkDefinition) -> bool:
    """Whether this network's dnsmasq binds with ``bind-interfaces``, its DNS and TFTP
    guarded by vnetd's firewall. Not for:

    * ``open`` networks: no firewall rules of vnetd's (as in libvirt);
    * networks with an IPv6 address and no MAC: dnsmasq's router advertisements name
      the bridge's link-local address as the DNS server (RDNSS), and the kernel gives
      the bridge that address only once a port brings carrier, after dnsmasq started: a
      dnsmasq that binds once would never listen there. With a MAC (every defined
      network has one, see ``vnetd.defaults``) vnetd adds that address itself before
      dnsmasq starts (``vnetd.bridge.conflicts.link_local``). Without, dnsmasq keeps
      ``bind-dynamic`` (the guard's set elements are installed all the same)."""
    return (definition.mode in FIREWALLED_MODES and runs_dnsmasq(definition)
            and (definition.mac is not None or not definition.ips_of(6)))
