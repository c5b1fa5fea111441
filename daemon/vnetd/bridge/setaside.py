"""Bridges ``NetlinkBridge.remove`` set aside for deletion, and their clean-up.

remove() drops a bridge's addresses, then takes it down and renames it ``vdel-<ifindex
in hex>`` (one request) before a worker thread deletes it (tens of milliseconds of kernel
time, see ``linkdel``). A daemon killed in that window leaves the renamed bridge behind; the next
daemon start deletes it. Only down bridges with exactly such a name are touched.
"""

from __future__ import annotations

import logging

from . import rtdump
from .linkdel import delete_link

log = logging.getLogger(__name__)

PREFIX = "vdel-"
IFF_UP = 0x1
_HEX = frozenset("0123456789abcdef")


def name_for(index: int) -> str:
    return f"{PREFIX}{index:x}"  # at most 13 characters: within IFNAMSIZ


def is_set_aside(link: rtdump.Link) -> bool:
    suffix = link.name.removeprefix(PREFIX)
    return (link.name.startswith(PREFIX) and bool(suffix) and _HEX.issuperset(suffix)
            and link.kind == "bridge" and not link.flags & IFF_UP)


def find_set_aside(known: frozenset[str] | None = None) -> list[rtdump.Link]:
    """The set-aside bridges of this network namespace (one link dump, ~0.3 ms).
    ``known``: the interface names a dump of this start-up already read; when none
    could be set aside, no second dump."""
    if known is not None and not any(name.startswith(PREFIX) for name in known):
        return []
    return [link for link in rtdump.links() if is_set_aside(link)]


def clear_set_aside(known: frozenset[str] | None = None) -> list[str]:
    """Delete the set-aside bridges (blocking: run it in a thread); the names deleted."""
    return delete_set_aside(find_set_aside(known))


def delete_set_aside(links: list[rtdump.Link]) -> list[str]:
    """Delete these bridges (blocking: a bridge's deletion waits for the kernel)."""
    deleted = []
    for link in links:
        log.warning("deleting bridge %s: a network stop was interrupted while deleting it",
                    link.name)
        try:
            delete_link(link.index)
        except OSError as exc:
            log.error("deleting bridge %s failed: %s", link.name, exc)
            continue
        deleted.append(link.name)
    return deleted
