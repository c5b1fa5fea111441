"""Text shapes of virsh's ``net-*`` output, as pure functions (no bus, no I/O).

virsh prints one empty line after every successful command (``vshCommandRun``);
that line is added by the CLI, not here, and ``--quiet`` drops it as in virsh.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # see records.py: net-list does not import typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from .records import LeaseRecord, NetworkInfo
    from .types import DhcpLease, NetworkEvent


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """virsh's ``vshTablePrint``: every cell after one space, cells padded to the column
    width plus two, the last cell unpadded, and a dash line of sum(width + 3)."""
    all_rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            parts.append(" " + (cell if last else cell.ljust(widths[i] + 2)))
        return "".join(parts) + "\n"

    out = [line(all_rows[0]), "-" * sum(w + 3 for w in widths) + "\n"]
    out.extend(line(r) for r in all_rows[1:])
    return "".join(out)


NET_LIST_HEADER = ("Name", "State", "Autostart", "Persistent")


def net_list_table(networks: Iterable[NetworkInfo]) -> str:
    return table(
        NET_LIST_HEADER,
        (
            (
                n.name,
                "active" if n.active else "inactive",
                yes_no(n.autostart),
                yes_no(n.persistent),
            )
            for n in networks
        ),
    )


def net_list_names(networks: Iterable[NetworkInfo]) -> str:
    return "".join(f"{n.name}\n" for n in networks)


def net_list_uuids(networks: Iterable[NetworkInfo]) -> str:
    return "".join(f"{n.uuid}\n" for n in networks)


def net_info(info: NetworkInfo) -> str:
    lines = [
        ("Name:", info.name),
        ("UUID:", info.uuid),
        ("Active:", yes_no(info.active)),
        ("Persistent:", yes_no(info.persistent)),
        ("Autostart:", yes_no(info.autostart)),
    ]
    if info.bridge:  # virsh omits the line when the network has no bridge name
        lines.append(("Bridge:", info.bridge))
    return "".join(f"{label:<15} {value}\n" for label, value in lines)


LEASES_HEADER = ("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname",
                 "Client ID or DUID")


def net_dhcp_leases(leases: Iterable[DhcpLease | LeaseRecord]) -> str:
    """virsh's lease table: local expiry time, ip/prefix, "-" for what is missing, by MAC."""
    rows = []
    for lease in sorted(leases, key=lambda x: x.mac.casefold()):
        expiry = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.expiry))
        rows.append((expiry, lease.mac or "-", lease.protocol,
                     f"{lease.ipaddr}/{lease.prefix}" if lease.ipaddr else "-",
                     lease.hostname or "-", lease.clientid or "-"))
    return table(LEASES_HEADER, rows)


def event_line(event: NetworkEvent, timestamp: str | None = None) -> str:
    text = f"event 'lifecycle' for network {event.name}: {event.label}\n"
    return f"{timestamp}: {text}" if timestamp else text


def event_json(event: NetworkEvent, timestamp: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": "lifecycle",
        "network": event.name,
        "type": event.label,
        "number": int(event.event),
        "detail": event.detail,
    }
    if timestamp:
        data["timestamp"] = timestamp
    return data


def to_json(data: Any) -> str:
    import json  # only --json pays for it

    return json.dumps(data, indent=2, sort_keys=True) + "\n"
