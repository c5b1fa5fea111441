"""Bus names, object paths and interface names of the vnetd D-Bus API."""

from __future__ import annotations

import functools

BUS_NAME = "org.vnetd1"
MANAGER_PATH = "/org/vnetd1"
MANAGER_IFACE = "org.vnetd1.Manager"
NETWORK_IFACE = "org.vnetd1.Network"
NETWORK_PATH_PREFIX = "/org/vnetd1/network"
MANAGE_ACTION = "org.vnetd1.manage"

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def encode_path_element(text: str) -> str:
    """``sd_bus_path_encode``: keep [A-Za-z0-9], write every other byte as ``_xx``."""
    if not text:
        return "_"
    return "".join(chr(b) if b in _SAFE else f"_{b:02x}" for b in text.encode())


def decode_path_element(element: str) -> str:
    if element == "_":
        return ""
    out = bytearray()
    i = 0
    while i < len(element):
        if element[i] == "_":
            out.append(int(element[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(element[i]))
            i += 1
    return out.decode()


# Only names of defined networks reach this, so a small bound keeps every one of them:
# encoding byte by byte was 20% of a ListNetworks call with 100 networks (py-spy).
@functools.lru_cache(maxsize=4096)
def network_path(name: str) -> str:
    return f"{NETWORK_PATH_PREFIX}/{encode_path_element(name)}"
