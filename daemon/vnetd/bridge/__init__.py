"""The bridge backend: one Linux bridge per network, over rtnetlink.

``conflicts`` holds the pure rules (name validity, adoption, subnet overlap);
``netlink`` the applier, ``NetlinkBridge``, which implements
``vnetd.backends.BridgeBackend``.
"""

from __future__ import annotations

# Must run before any pyroute2 import (see lean_import): the submodules below use it.
from . import lean_import  # noqa: F401  # isort: skip
from .netlink import BridgeEvent, NetlinkBridge, WatchCallback

__all__ = ["BridgeEvent", "NetlinkBridge", "WatchCallback"]
