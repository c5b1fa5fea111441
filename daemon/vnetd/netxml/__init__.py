"""libvirt network XML <-> ``NetworkDefinition``.

``parse_network(xml)`` parses safely (see ``vnetd.xmlsafe``), canonicalises as
libvirt does (lower-case MAC, ``forward dev`` as first ``<interface>``, default
``stp``/``delay`` on bridge-owning modes, canonical IP and UUID text) and validates
(``vnetd.validate``); ``format_network(definition)`` writes libvirt 9.0's format.
Both raise only ``vnetd.errors.InvalidArgument``.
"""

from vnetd.netxml.format import format_network
from vnetd.netxml.parse import DNSMASQ_NS, parse_network

__all__ = ["DNSMASQ_NS", "format_network", "parse_network"]
