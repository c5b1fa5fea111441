"""The runtime floor: the least an asyncio + dbus-fast daemon does to answer vnetd's probe.

The benchmark starts it on vnetd's private bus, in vnetd's namespace, with the same
interpreter, environment and probe (``ListNetworks`` through busctl) as vnetd, and
stops it the same way (SIGTERM, exit seen through a pidfd). Its rows in the table say
which part of vnetd's start time, stop time and memory is vnetd's own code and which
part any service written on this stack pays before it runs a line of its own.

What it does is what vnetd must do to answer at all, and nothing more: keep OpenSSL
out as vnetd does (``vnetd.no_openssl``), connect, export one object, take the bus
name, answer ``ListNetworks`` with no networks, and end at SIGTERM with ``os._exit``.

``--libraries``: also load what vnetd loads once a network runs, the way vnetd loads
it: pyroute2's rtnetlink parts (``vnetd.bridge.lean_import``), lxml's parser and an
nftables context with a ruleset listing.
"""

# No ``from __future__ import annotations``: dbus-fast reads the signature strings
# ("u", "ao") from the annotations themselves.

import vnetd.no_openssl  # noqa: F401  # isort: skip  (before asyncio, as in vnetd)

import argparse
import asyncio
import os
import signal
import sys

from dbus_fast import BusType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

BUS_NAME = "org.vnetd1"
MANAGER_PATH = "/org/vnetd1"


class Manager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.vnetd1.Manager")

    @method()
    def ListNetworks(self, flags: "u") -> "ao":  # noqa: F821 - D-Bus names
        return []


def load_libraries() -> None:
    from vnetd.bridge import lean_import

    lean_import.prepare()
    import lxml.etree
    import nftables
    from pyroute2 import AsyncIPRoute  # noqa: F401

    lxml.etree.fromstring(b"<network><name>floor</name></network>",
                          lxml.etree.XMLParser(resolve_entities=False, no_network=True))
    nft = nftables.Nftables()
    nft.set_json_output(True)
    nft.json_cmd({"nftables": [{"list": {"tables": {}}}]})


async def serve(libraries: bool) -> None:
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    bus = MessageBus(bus_address=address) if address else MessageBus(bus_type=BusType.SYSTEM)
    await bus.connect()
    bus.export(MANAGER_PATH, Manager())
    reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
    if reply is not RequestNameReply.PRIMARY_OWNER:
        print(f"cannot own {BUS_NAME}: {reply.name}", file=sys.stderr)
        os._exit(1)
    if libraries:
        load_libraries()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", action="store_true",
                        help="also load pyroute2, lxml and libnftables as vnetd does")
    asyncio.run(serve(parser.parse_args().libraries))


if __name__ == "__main__":
    main()
