"""vnetctl's argument parser: virsh's ``net-*`` commands, options and usage errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import NamedTuple, NoReturn


class CommandSpec(NamedTuple):
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    reads: bool = False  # read-only commands accept --json


def _network_arg(
    help_text: str = "network name or uuid",
) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("network", metavar="NETWORK", help=help_text)

    return add


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="file containing an XML network description")


def _net_list_args(p: argparse.ArgumentParser) -> None:
    state = p.add_mutually_exclusive_group()
    state.add_argument("--all", action="store_true", help="list inactive & active networks")
    state.add_argument("--inactive", action="store_true", help="list inactive networks")
    p.add_argument("--persistent", action="store_true", help="list persistent networks")
    p.add_argument("--transient", action="store_true", help="list transient networks")
    p.add_argument("--autostart", action="store_true", help="list networks with autostart enabled")
    p.add_argument(
        "--no-autostart", action="store_true", help="list networks with autostart disabled"
    )
    p.add_argument("--name", action="store_true", help="list network names only")
    p.add_argument("--uuid", action="store_true", help="list uuid's only")
    p.add_argument("--table", action="store_true", help="list table (default)")


def _net_autostart_args(p: argparse.ArgumentParser) -> None:
    _network_arg()(p)
    p.add_argument("--disable", action="store_true", help="disable autostarting")


def _net_dumpxml_args(p: argparse.ArgumentParser) -> None:
    _network_arg()(p)
    p.add_argument("--inactive", action="store_true", help="show inactive defined XML")


def _net_dhcp_leases_args(p: argparse.ArgumentParser) -> None:
    _network_arg()(p)
    p.add_argument("mac", metavar="MAC", nargs="?", help="MAC address")
    p.add_argument("--mac", dest="mac_option", metavar="MAC", help="MAC address")


def _net_event_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "network", metavar="NETWORK", nargs="?", help="filter by network name or uuid"
    )
    p.add_argument("--event", metavar="EVENT", help="which event type to wait for (lifecycle)")
    p.add_argument("--loop", action="store_true", help="loop until timeout or interrupt")
    p.add_argument("--timeout", metavar="SECONDS", type=_positive_int, help="timeout seconds")
    p.add_argument("--list", action="store_true", help="list valid event types")
    p.add_argument("--timestamp", action="store_true", help="show timestamp for each event")


def _net_update_args(p: argparse.ArgumentParser) -> None:
    _network_arg()(p)
    # Names are checked by the command, not argparse, for virsh's own messages.
    p.add_argument("update_command", metavar="COMMAND",
                   help="type of update (add-first, add-last (add), delete, or modify)")
    p.add_argument("section", metavar="SECTION",
                   help="which section of network configuration to update")
    p.add_argument("xml", metavar="XML",
                   help="name of file containing xml (or, if it starts with '<', the complete "
                   "xml element itself) to add/modify, or to be matched for search")
    p.add_argument("--parent-index", metavar="N", type=_parent_index, default=-1,
                   help="which parent object to search through")
    p.add_argument("--config", action="store_true", help="affect next network startup")
    p.add_argument("--live", action="store_true", help="affect running network")
    p.add_argument("--current", action="store_true", help="affect current state of network")


def _net_wait_lease_args(p: argparse.ArgumentParser) -> None:
    _network_arg()(p)
    p.add_argument("--mac", metavar="MAC", required=True, help="MAC address of the guest")
    p.add_argument("--timeout", metavar="SECONDS", type=_positive_int, default=60,
                   help="give up after this many seconds (default 60)")


def _parent_index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"Numeric value '{text}' for <parent-index> option is malformed or out of range"
        ) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"Numeric value '{text}' is malformed or out of range")
    return value


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("net-autostart", "autostart a network", _net_autostart_args),
    CommandSpec("net-create", "create a network from an XML file", _file_arg),
    CommandSpec(
        "net-define",
        "define an inactive persistent virtual network or modify an existing persistent one "
        "from an XML file",
        _file_arg,
    ),
    CommandSpec("net-destroy", "destroy (stop) a network", _network_arg()),
    CommandSpec("net-dhcp-leases", "print lease info for a given network",
                _net_dhcp_leases_args, reads=True),
    CommandSpec("net-dumpxml", "network information in XML", _net_dumpxml_args, reads=True),
    CommandSpec("net-edit", "edit XML configuration for a network", _network_arg()),
    CommandSpec("net-event", "Network Events", _net_event_args, reads=True),
    CommandSpec("net-info", "network information", _network_arg(), reads=True),
    CommandSpec("net-list", "list networks", _net_list_args, reads=True),
    CommandSpec(
        "net-name", "convert a network UUID to network name", _network_arg("network uuid"),
        reads=True,
    ),
    CommandSpec("net-start", "start a (previously defined) inactive network", _network_arg()),
    CommandSpec("net-undefine", "undefine a persistent network", _network_arg()),
    CommandSpec(
        "net-update", "update parts of an existing network's configuration", _net_update_args
    ),
    CommandSpec(
        "net-uuid", "convert a network name to network UUID", _network_arg("network name"),
        reads=True,
    ),
    CommandSpec("net-wait-lease", "wait until a guest has a DHCP lease and print it",
                _net_wait_lease_args, reads=True),
)
COMMAND_NAMES = tuple(c.name for c in COMMANDS)


class _Parser(argparse.ArgumentParser):
    """Usage errors as virsh reports them: ``error: ...`` on stderr, exit status 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}\n(see '{self.prog} --help')\n")


def named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, if it is a known one (the first word not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMAND_NAMES else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with ``only`` one command's sub-parser: building all fifteen
    costs more than the rest of a ``net-list`` run (see README "Performance")."""
    parser = _Parser(
        prog="vnetctl",
        description="Manage vnetd virtual networks with virsh's net-* commands.",
        epilog="A network is named by name or UUID. The bus is the system bus, or "
        "the one in DBUS_SYSTEM_BUS_ADDRESS.",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="quiet mode: no trailing empty line"
    )
    parser.add_argument("-v", "--version", action="version", version="vnetctl 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for spec in COMMANDS:
        if only is not None and spec.name != only:
            continue
        p = sub.add_parser(spec.name, help=spec.help, description=spec.help)
        spec.add_arguments(p)
        if spec.reads:
            p.add_argument("--json", action="store_true", help="machine-readable JSON output")
        # Also accept -q after the command name; SUPPRESS keeps the global value.
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
    if only is not None:
        return parser
    h = sub.add_parser("help", help="print help for a command")
    h.add_argument("topic", metavar="COMMAND", nargs="?", choices=(*COMMAND_NAMES, "help"))
    h.add_argument("--commands", action="store_true", help=argparse.SUPPRESS)
    return parser
