"""Whether a command-line word is a UUID (virsh looks a network up by name, then UUID)."""

from __future__ import annotations

_HEX = frozenset("0123456789abcdefABCDEF")
_GROUPS = (8, 4, 4, 4, 12)


def looks_like_uuid(text: str) -> bool:
    """libvirt's virUUIDParse shape: 32 hex digits in groups of 8-4-4-4-12, each dash
    between groups optional. Hand-written because importing ``re`` costs ~3 ms of every
    ``vnetctl`` command that takes this path."""
    i = 0
    for n, size in enumerate(_GROUPS):
        if n and text[i:i + 1] == "-":
            i += 1
        group = text[i:i + size]
        if len(group) != size or not _HEX.issuperset(group):
            return False
        i += size
    return i == len(text)
