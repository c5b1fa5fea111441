"""Report other tables' drop-policy chains that can block vnetd's guests (read only).

Every nftables table hooked at forward or input gets its own say: an accept in
vnetd's table does not override a drop elsewhere (ufw, firewalld, the NixOS
firewall, Docker's FORWARD DROP; reference §5 pain points 1, 2, 4). vnetd never
edits those tables; it lists them and tells the administrator what to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rules import FAMILY, TABLE, Json

WATCHED_HOOKS = ("forward", "input")


@dataclass(frozen=True)
class ForeignDrop:
    """A base chain of another table whose drop policy can block vnetd's traffic."""

    family: str
    table: str
    chain: str
    hook: str
    priority: int

    def fix(self, bridges: tuple[str, ...] = ()) -> str:
        """The rules that would let ``bridges``' guests through (``virbr0`` if none)."""
        return _fix(self.family, self.table, self.chain, self.hook, bridges)

    def describe(self, bridges: tuple[str, ...] = ()) -> str:
        return (f"chain {self.chain} in table {self.family} {self.table} "
                f"(hook {self.hook}, priority {self.priority}) drops by default: "
                f"{self.fix(bridges)}")


def _fix(family: str, table: str, chain: str, hook: str, bridges: tuple[str, ...]) -> str:
    names = ", ".join(f'"{b}"' for b in bridges) if bridges else '"virbr0"'
    bridge_set = f"{{ {names} }}" if len(bridges) != 1 else names
    where = f"{family} {table} {chain}"
    if hook == "forward":
        return (f"guests get no routed or NAT traffic; allow it with "
                f"`nft insert rule {where} iifname {bridge_set} accept` and "
                f"`nft insert rule {where} oifname {bridge_set} accept` "
                f"(with firewalld: put the bridge in a zone that forwards)")
    return (f"guests get no DHCP or DNS from vnetd's dnsmasq; allow it with "
            f"`nft insert rule {where} iifname {bridge_set} udp dport {{ 53, 67, 547 }} accept` "
            f"and `nft insert rule {where} iifname {bridge_set} tcp dport 53 accept`")


def find_foreign_drops(listing: Json | None) -> list[ForeignDrop]:
    """Drop-policy forward/input base chains in tables other than ``inet vnetd``, from
    `nft -j list chains` (or `list ruleset`) output; the same for every bridge."""
    found: list[ForeignDrop] = []
    for item in (listing or {}).get("nftables", []):
        chain: dict[str, Any] | None = item.get("chain")
        if not chain or chain.get("hook") not in WATCHED_HOOKS:
            continue
        if (chain.get("family"), chain.get("table")) == (FAMILY, TABLE):
            continue
        if chain.get("family") not in ("ip", "ip6", "inet"):
            continue  # bridge/arp/netdev tables do not see routed IP traffic
        if chain.get("policy") != "drop":
            continue
        found.append(ForeignDrop(chain["family"], chain["table"], chain["name"],
                                 chain["hook"], int(chain.get("prio", 0))))
    return found
