"""``parse_network`` and ``format_network`` with ``vnetd.netxml`` imported at first use.

netxml brings lxml and the validators (~13 ms of CPU here): a daemon with no network
defined answers on the bus without them; one with networks loads them to read its
definitions, as before.
"""

from __future__ import annotations

from .model import NetworkDefinition


def parse_network(xml: str) -> NetworkDefinition:
    from .netxml import parse_network as parse

    return parse(xml)


def format_network(definition: NetworkDefinition) -> str:
    from .netxml import format_network as format_

    return format_(definition)
