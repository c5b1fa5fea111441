"""vnetctl: client library and virsh-style CLI for vnetd (``org.vnetd1`` on the system bus).

Async use (``DBUS_SYSTEM_BUS_ADDRESS`` picks another bus, as for busctl)::

    import asyncio
    from vnetctl import Client, ListFlags, NotFound

    async def main() -> None:
        async with await Client.connect() as client:
            for net in await client.list_networks(ListFlags.ACTIVE):
                print(net.name, net.bridge, net.forward_mode)
            try:
                await (await client.lookup("default")).start()
            except NotFound as exc:
                print("no default network:", exc)

    asyncio.run(main())

Blocking use: ``with BlockingClient() as c: c.lookup("default").info()``.

The names below are imported lazily so that ``vnetctl --help`` does not pay for
importing dbus-fast.

Performance: ``vnetctl net-list`` runs without argparse or dbus-fast (``quick`` and
``wire``: one ``GetManagedObjects`` call on a plain unix socket), under ``python3 -IS``
and without importing typing (hence ``TYPE_CHECKING = False`` below). With 200 networks
it takes ~40 ms (median; the interpreter alone ~15 ms) where the first
ListNetworks + GetAll-per-network path failed outright above 128 networks (the bus's
pending-reply limit). Details in README "vnetctl performance".
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see records.py)
if TYPE_CHECKING:
    from typing import Any

    from .blocking import BlockingClient, BlockingNetwork
    from .client import Client, EventStream, Network
    from .errors import (
        AccessDenied,
        AlreadyExists,
        BusUnavailable,
        Conflict,
        Failed,
        InvalidArgument,
        InvalidState,
        NotFound,
        NotRunning,
        VnetdError,
    )
    from .types import (
        DhcpLease,
        EventType,
        ListFlags,
        NetworkEvent,
        NetworkInfo,
        NetworkSection,
        UpdateCommand,
        UpdateFlags,
        XmlFlags,
    )

_WHERE = {
    "BlockingClient": "blocking",
    "BlockingNetwork": "blocking",
    "Client": "client",
    "EventStream": "client",
    "Network": "client",
    "AccessDenied": "errors",
    "AlreadyExists": "errors",
    "BusUnavailable": "errors",
    "Conflict": "errors",
    "Failed": "errors",
    "InvalidArgument": "errors",
    "InvalidState": "errors",
    "NotFound": "errors",
    "NotRunning": "errors",
    "VnetdError": "errors",
    "DhcpLease": "types",
    "EventType": "types",
    "ListFlags": "types",
    "NetworkEvent": "types",
    "NetworkInfo": "records",
    "NetworkSection": "types",
    "UpdateCommand": "types",
    "UpdateFlags": "types",
    "XmlFlags": "types",
}

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BlockingClient",
    "BlockingNetwork",
    "BusUnavailable",
    "Client",
    "Conflict",
    "DhcpLease",
    "EventStream",
    "EventType",
    "Failed",
    "InvalidArgument",
    "InvalidState",
    "ListFlags",
    "Network",
    "NetworkEvent",
    "NetworkInfo",
    "NetworkSection",
    "NotFound",
    "NotRunning",
    "UpdateCommand",
    "UpdateFlags",
    "VnetdError",
    "XmlFlags",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vnetctl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
