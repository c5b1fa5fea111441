"""nftables firewall backend: one table ``inet vnetd``, one atomic transaction per change.

``rules`` builds (pure), ``state`` reads the kernel's listing back (pure), ``nft``
applies through the official binding, ``sysctl`` handles forwarding, ``foreign``
reports other tables' drop policies, ``watch`` notices changes made behind vnetd's back.
"""

from __future__ import annotations

from .nft import NftFirewall

__all__ = ["NftFirewall"]
