"""The ``net-*`` command bodies: one async function per command, virsh's messages."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import signal
from collections.abc import Awaitable, Callable
from typing import TextIO

from . import output
from .client import Client, Network
from .errors import VnetdError
from .listing import list_flags
from .outcome import FROM_FILE, ON_NETWORK, CommandError, finish, read_file, report
from .types import (
    NetworkEvent,
    NetworkSection,
    UpdateCommand,
    UpdateFlags,
    XmlFlags,
    virsh_name,
)

Handler = Callable[[Client, argparse.Namespace, TextIO], Awaitable[int]]


async def lookup(client: Client, text: str, how: str = "any") -> Network:
    try:
        if how == "uuid":
            return await client.lookup_by_uuid(text)
        if how == "name":
            return await client.lookup_by_name(text)
        return await client.lookup(text)
    except VnetdError as exc:
        raise CommandError(f"failed to get network '{text}'", exc) from exc


async def net_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.table + args.name + args.uuid > 1:
        raise CommandError("Only one argument from --table, --name and --uuid may be specified.")
    try:
        networks = await client.list_networks(list_flags(args))
    except VnetdError as exc:
        raise CommandError("Failed to list networks", exc) from exc
    if args.json:
        out.write(output.to_json([n.to_json() for n in networks]))
    elif args.name:
        out.write(output.net_list_names(networks))
    elif args.uuid:
        out.write(output.net_list_uuids(networks))
    else:
        out.write(output.net_list_table(networks))
    return 0


async def net_info(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    info = await (await lookup(client, args.network)).info()
    out.write(output.to_json(info.to_json()) if args.json else output.net_info(info))
    return 0


async def net_name(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    info = await (await lookup(client, args.network, "uuid")).info()
    out.write(output.to_json({"name": info.name, "uuid": info.uuid}) if args.json
              else f"{info.name}\n")
    return 0


async def net_uuid(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    info = await (await lookup(client, args.network, "name")).info()
    out.write(output.to_json({"name": info.name, "uuid": info.uuid}) if args.json
              else f"{info.uuid}\n")
    return 0


async def net_dumpxml(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    net = await lookup(client, args.network)
    xml = await net.get_xml_desc(XmlFlags.INACTIVE if args.inactive else XmlFlags.NONE)
    if args.json:
        out.write(output.to_json({"xml": xml}))
    else:
        out.write(xml if xml.endswith("\n") else xml + "\n")
    return 0


async def net_dhcp_leases(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    net = await lookup(client, args.network)
    try:
        leases = await net.get_dhcp_leases(args.mac_option or args.mac or "")
    except VnetdError as exc:
        raise CommandError(f"Failed to get leases info for {args.network}", exc) from exc
    if args.json:
        out.write(output.to_json([lease.to_json() for lease in leases]))
    else:
        out.write(output.net_dhcp_leases(leases))
    return 0


# virsh's names; "add" is its synonym for add-last.
UPDATE_COMMANDS = {virsh_name(c): c for c in UpdateCommand} | {"add": UpdateCommand.ADD_LAST}
UPDATE_SECTIONS = {virsh_name(s): s for s in NetworkSection}


async def net_update(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """virsh's cmdNetworkUpdate, message for message."""
    for other in ("live", "config"):
        if args.current and getattr(args, other):
            raise CommandError(f"Options --current and --{other} are mutually exclusive")
    net = await lookup(client, args.network)
    command = UPDATE_COMMANDS.get(args.update_command)
    if command is None:
        raise CommandError(f"unrecognized command name '{args.update_command}'")
    section = UPDATE_SECTIONS.get(args.section)
    if section is None:
        raise CommandError(f"unrecognized section name '{args.section}'")
    xml = args.xml if args.xml.startswith("<") else read_file(args.xml)
    flags = UpdateFlags.CURRENT
    if args.live:
        flags |= UpdateFlags.LIVE
    if args.config:
        flags |= UpdateFlags.CONFIG
    try:
        name = await net.name()
    except VnetdError as exc:
        raise CommandError(f"failed to get network '{args.network}'", exc) from exc
    try:
        await net.update(command, section, args.parent_index, xml, flags)
    except VnetdError as exc:
        raise CommandError(f"Failed to update network {name}", exc) from exc
    if args.config:
        affected = "persistent config and live state" if args.live else "persistent config"
    elif args.live:
        affected = "live state"
    else:  # --current: whatever the network is now (virsh asks after the update)
        try:
            active = await net.is_active()
        except VnetdError:
            active = True  # virNetworkIsActive's -1 is true in virsh's test
        affected = "live state" if active else "persistent config"
    # virsh prints this with vshPrintExtra and no newline: --quiet silences it, and the
    # line ends with the empty line every command gets.
    if not args.quiet:
        out.write(f"Updated network {name} {affected}")
    return 0


async def net_wait_lease(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    net = await lookup(client, args.network)
    try:
        lease = await net.wait_for_lease(args.mac, args.timeout)
    except VnetdError as exc:
        raise CommandError(
            f"Failed to get a lease for {args.mac} on network {args.network}", exc) from exc
    out.write(output.to_json(lease.to_json()) if args.json else output.net_dhcp_leases([lease]))
    return 0


async def net_define(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return await _from_file(client.define_xml, "net-define", args, out)


async def net_create(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return await _from_file(client.create_xml, "net-create", args, out)


async def _from_file(send: Callable[[str], Awaitable[Network]], command: str,
                     args: argparse.Namespace, out: TextIO) -> int:
    _method, failed, done = FROM_FILE[command]
    xml = read_file(args.file)
    try:
        name = await (await send(xml)).name()
    except VnetdError as exc:
        raise CommandError(failed.format(args.file), exc) from exc
    out.write(done.format(name, args.file) + "\n")
    return 0


def _simple(action: Callable[[Network], Awaitable[None]], command: str) -> Handler:
    _method, failed, done = ON_NETWORK[command]

    async def handler(client: Client, args: argparse.Namespace, out: TextIO) -> int:
        net = await lookup(client, args.network)
        try:
            await action(net)
        except VnetdError as exc:
            raise CommandError(failed.format(args.network), exc) from exc
        out.write(done.format(args.network) + "\n")
        return 0

    return handler


net_start = _simple(Network.start, "net-start")
net_destroy = _simple(Network.destroy, "net-destroy")
net_undefine = _simple(Network.undefine, "net-undefine")


async def net_autostart(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    net = await lookup(client, args.network)
    enable = not args.disable
    try:
        await net.set_autostart(enable)
    except VnetdError as exc:
        what = "mark" if enable else "unmark"
        raise CommandError(f"failed to {what} network {args.network} as autostarted", exc) from exc
    what = "marked" if enable else "unmarked"
    out.write(f"Network {args.network} {what} as autostarted\n")
    return 0


def _timestamp() -> str:
    # virsh's virTimeStringNowRaw: UTC with milliseconds and a +0000 suffix.
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


async def net_event(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        out.write("lifecycle\n")
        return 0
    if args.event is None:
        raise CommandError("either --list or --event <type> is required")
    if args.event != "lifecycle":
        raise CommandError(f"unknown event type {args.event}")
    only = (await lookup(client, args.network)).path if args.network else None
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    deadline = None if args.timeout is None else loop.time() + args.timeout
    count = 0
    outcome = "done"
    async with client.events() as stream:
        while True:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                outcome = "timeout"
                break
            event = await _next_event(stream.get(), interrupted, left)
            if event is None:
                outcome = "interrupt" if interrupted.is_set() else "timeout"
                break
            if only is not None and event.path != only:
                continue
            stamp = _timestamp() if args.timestamp else None
            if args.json:
                out.write(output.to_json(output.event_json(event, stamp)).replace("\n", " ")
                          .rstrip() + "\n")
            else:
                out.write(output.event_line(event, stamp))
            out.flush()
            count += 1
            if not args.loop:
                break
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.remove_signal_handler(signal.SIGINT)
    if not args.json:
        if outcome == "timeout":
            out.write("event loop timed out\n")
        elif outcome == "interrupt":
            out.write("event loop interrupted\n")
        out.write(f"events received: {count}\n")
    return 0 if count else 1


async def _next_event(
    get: Awaitable[NetworkEvent], interrupted: asyncio.Event, timeout: float | None
) -> NetworkEvent | None:
    getter = asyncio.ensure_future(get)
    stopper = asyncio.ensure_future(interrupted.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        return getter.result() if getter in done else None
    finally:
        for task in (getter, stopper):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def net_edit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    from .edit import edit_network

    net = await lookup(client, args.network)
    return await edit_network(client, net, out)


HANDLERS: dict[str, Handler] = {
    "net-autostart": net_autostart,
    "net-create": net_create,
    "net-define": net_define,
    "net-destroy": net_destroy,
    "net-dhcp-leases": net_dhcp_leases,
    "net-dumpxml": net_dumpxml,
    "net-edit": net_edit,
    "net-event": net_event,
    "net-info": net_info,
    "net-list": net_list,
    "net-name": net_name,
    "net-start": net_start,
    "net-undefine": net_undefine,
    "net-update": net_update,
    "net-uuid": net_uuid,
    "net-wait-lease": net_wait_lease,
}


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    async with await Client.connect() as client:
        return await HANDLERS[args.command](client, args, out)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one parsed command; 0 on success, 1 with ``error: ...`` on stderr otherwise."""
    # Buffer stdout so that a refused command prints nothing there, and so that
    # virsh's trailing empty line follows only a success; net-event and net-edit
    # talk to the user as they go.
    streaming = args.command in ("net-event", "net-edit")
    buffer = io.StringIO()
    try:
        status = asyncio.run(_run(args, out if streaming else buffer))
    except (CommandError, VnetdError) as exc:
        report(err, exc)
        return 1
    return finish(out, buffer.getvalue(), status, quiet=args.quiet,
                  json=getattr(args, "json", False))
