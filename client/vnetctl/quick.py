"""``net-list`` over :mod:`vnetctl.wire`: one ``GetManagedObjects`` call, no dbus-fast.

Measured with 200 networks on a private bus (median of 20 runs, see README
"Performance"): the dbus-fast client with one ``GetAll`` per network could not list
more than 128 networks at all (the bus caps pending replies per connection), and needed
~250 ms for 120; dbus-fast with ``GetManagedObjects`` still paid ~90 ms just to import
dbus-fast and asyncio; this path needs the interpreter, argparse and one socket.
"""

from __future__ import annotations

import argparse
import io
from typing import TextIO

from . import output
from .errors import VnetdError
from .listing import list_flags, networks_from_managed_objects
from .outcome import CommandError, finish, report
from .wire import Connection, Unsupported

BUS_NAME = "org.vnetd1"
MANAGER_PATH = "/org/vnetd1"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"

COMMANDS = frozenset({"net-list"})


def net_list_text(args: argparse.Namespace, connection: Connection) -> str:
    if args.table + args.name + args.uuid > 1:
        raise CommandError("Only one argument from --table, --name and --uuid may be specified.")
    try:
        objects = connection.call(BUS_NAME, MANAGER_PATH, OBJECT_MANAGER_IFACE,
                                  "GetManagedObjects")[0]
    except VnetdError as exc:
        raise CommandError("Failed to list networks", exc) from exc
    networks = networks_from_managed_objects(objects, list_flags(args))
    if args.json:
        return output.to_json([n.to_json() for n in networks])
    if args.name:
        return output.net_list_names(networks)
    if args.uuid:
        return output.net_list_uuids(networks)
    return output.net_list_table(networks)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int | None:
    """Run a command this path serves; None when it cannot (then use the full client)."""
    if args.command not in COMMANDS:
        return None
    buffer = io.StringIO()
    try:
        with Connection() as connection:
            buffer.write(net_list_text(args, connection))
    except Unsupported:
        return None
    except (CommandError, VnetdError) as exc:
        report(err, exc)
        return 1
    return finish(out, buffer.getvalue(), 0, quiet=args.quiet, json=args.json)
