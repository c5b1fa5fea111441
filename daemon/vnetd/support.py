"""The one list of libvirt features vnetd accepts and keeps but does not implement.

Definitions carrying them parse, validate, store and format back unchanged (so a
libvirt definition survives a define); ``check_startable`` refuses to *start*
them with ``NotSupported`` (an ``InvalidArgument``). Everything else in libvirt's
network XML is implemented.

=============================  =================================================
feature                        why vnetd cannot start it
=============================  =================================================
forward mode bridge            uses an existing host bridge or macvtap; vnetd only
                               builds and owns its own Linux bridges
forward modes private, vepa,   macvtap / SR-IOV hardware pools
passthrough, hostdev
``<virtualport>``              Open vSwitch or 802.1Qbg/Qbh switch port profiles
``<vlan>``                     VLAN tags need OVS, hostdev or macvtap passthrough
``<portgroup>`` with           same: port profiles and tags of guest connections
``<virtualport>``/``<vlan>``   (portgroups carrying only bandwidth are accepted
                               and have no effect: vnetd plugs no guest ports)
``macTableManager='libvirt'``  needs per-guest FDB management when a guest port is
                               plugged; vnetd plugs no guest ports
``<bridge zone=...>``          firewalld zones; vnetd keeps its own nftables table
                               and never talks to firewalld
``<bandwidth>``                tc shaping of the bridge is not implemented
=============================  =================================================

``<port isolated='yes'>`` is implemented although vnetd plugs no guest ports: the bridge
backend flags each guest port as it joins (``vnetd.bridge.isolation``).

``trustGuestRxFilters`` (a default for macvtap guest interfaces) and ``<metadata>``
are kept and have no runtime effect, as in libvirt for a bridge network.
"""

from __future__ import annotations

from vnetd.errors import NotSupported
from vnetd.model import VIRTUAL_MODES, NetworkDefinition, RawElement


def _not_supported(reason: str) -> NotSupported:
    return NotSupported(f"network feature not supported by vnetd: {reason}")


def _portgroup_has_hardware(group: RawElement) -> bool:
    from lxml import etree

    from vnetd.xmlsafe import parse_xml

    root = parse_xml(group.xml, what="<portgroup>")
    return any(etree.QName(child).localname in ("virtualport", "vlan") for child in root)


def unsupported_reasons(definition: NetworkDefinition) -> list[str]:
    """Every reason why vnetd cannot start this definition (empty: it can)."""
    d = definition
    reasons: list[str] = []
    if d.forward is not None and d.forward.effective_mode not in VIRTUAL_MODES:
        mode = d.forward.effective_mode.value
        reasons.append(f"<forward mode='{mode}'> (vnetd runs nat, route, open and isolated"
                       " networks on bridges it owns)")
    if d.virtualport is not None:
        reasons.append("<virtualport> (Open vSwitch / 802.1Qbg / 802.1Qbh port profiles)")
    if d.vlan is not None:
        reasons.append("<vlan> (VLAN tagging needs OVS or hardware)")
    if any(_portgroup_has_hardware(group) for group in d.portgroups):
        reasons.append("<portgroup> with <virtualport> or <vlan>")
    if d.bridge is not None and d.bridge.mac_table_manager == "libvirt":
        reasons.append("<bridge macTableManager='libvirt'> (vnetd does not manage guest FDB"
                       " entries)")
    if d.bridge is not None and d.bridge.zone is not None:
        reasons.append("<bridge zone=...> (vnetd does not use firewalld zones)")
    if d.bandwidth is not None:
        reasons.append("<bandwidth> (traffic shaping is not implemented)")
    return reasons


def check_startable(definition: NetworkDefinition) -> None:
    """Raise ``NotSupported`` naming the first feature vnetd cannot run."""
    reasons = unsupported_reasons(definition)
    if reasons:
        raise _not_supported(reasons[0])
