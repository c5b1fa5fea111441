"""The bridge backend: one Linux bridge per network, over rtnetlink.

``conflicts`` holds the pure rules (name validity, adoption, subnet overlap);
``netlink`` the applier, ``NetlinkBridge``, which implements
``vnetd.backends.BridgeBackend``; ``survey`` judges all bridges at daemon start without
pyroute2. The names below load ``netlink`` (and pyroute2, ~100 ms) on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .netlink import BridgeEvent, NetlinkBridge, WatchCallback

__all__ = ["BridgeEvent", "NetlinkBridge", "WatchCallback"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import netlink

        return getattr(netlink, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
