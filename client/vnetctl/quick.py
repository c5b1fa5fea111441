"""The everyday commands without argparse or dbus-fast, over :mod:`vnetctl.wire`:
``net-list`` (one ``GetManagedObjects``), ``net-start``/``-destroy``/``-undefine``,
``net-define``/``-create``, ``net-dumpxml``, ``net-info``, ``net-uuid``,
``net-dhcp-leases`` and ``net-autostart``, each one call in its plain spelling.

Measured with 200 networks on a private bus (median of 20 runs, see README
"Performance"): the dbus-fast client with one ``GetAll`` per network could not list
more than 128 networks at all (the bus caps pending replies per connection), and needed
~250 ms for 120; importing dbus-fast and asyncio alone costs ~90 ms; argparse with the
fifteen sub-parsers ~20 ms. Here: the interpreter, a few small modules and one socket.
Anything unusual (an abbreviated option, --help, a bad combination, a non-unix bus)
returns None and takes the ordinary path, which reports errors as before.
"""

from __future__ import annotations

from . import output
from .errors import NotFound, NotRunning, VnetdError
from .listing import info_from_properties, list_flags, networks_from_managed_objects
from .outcome import FROM_FILE, ON_NETWORK, CommandError, finish, read_file, report
from .records import LeaseRecord
from .uuids import looks_like_uuid
from .wire import Connection, Unsupported

TYPE_CHECKING = False  # see records.py: this path imports neither typing, re nor enum
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TextIO

BUS_NAME = "org.vnetd1"
MANAGER_PATH = "/org/vnetd1"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"

COMMANDS = frozenset({"net-list"})
NETWORK_IFACE = "org.vnetd1.Network"
MANAGER_IFACE = "org.vnetd1.Manager"
_QUIET = ("-q", "--quiet")
_FLAGS = {"--all": "all", "--inactive": "inactive", "--persistent": "persistent",
          "--transient": "transient", "--autostart": "autostart",
          "--no-autostart": "no_autostart", "--name": "name", "--uuid": "uuid",
          "--table": "table", "--json": "json"}


class NetListOptions:
    """What ``net-list``'s argparse Namespace holds, for :func:`list_flags` and output."""

    _fields = ("quiet", "all", "inactive", "persistent", "transient", "autostart",
               "no_autostart", "name", "uuid", "table", "json")
    __slots__ = _fields
    quiet: bool
    all: bool
    inactive: bool
    persistent: bool
    transient: bool
    autostart: bool
    no_autostart: bool
    name: bool
    uuid: bool
    table: bool
    json: bool

    def __init__(self, **given: bool) -> None:
        unknown = set(given) - set(self._fields)
        if unknown:
            raise TypeError(f"unknown net-list options: {sorted(unknown)}")
        for field in self._fields:
            setattr(self, field, bool(given.get(field, False)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetListOptions):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        set_ = ", ".join(f"{f}=True" for f in self._fields if getattr(self, f))
        return f"NetListOptions({set_})"

    @classmethod
    def from_namespace(cls, args: Any) -> NetListOptions:
        return cls(**{field: bool(getattr(args, field)) for field in cls._fields})


def _leading_quiet(words: Sequence[str]) -> tuple[bool, list[str]]:
    """virsh's global ``-q``/``--quiet`` before the command: (given, the words after)."""
    rest = list(words)
    quiet = False
    while rest and rest[0] in _QUIET:
        quiet = True
        rest.pop(0)
    return quiet, rest


def parse_net_list(words: Sequence[str]) -> NetListOptions | None:
    """``[-q] net-list [exact long options]``, or None for argparse to handle."""
    seen: dict[str, bool] = {}
    quiet, rest = _leading_quiet(words)
    if quiet:
        seen["quiet"] = True
    if not rest or rest.pop(0) != "net-list":
        return None
    for word in rest:
        if word in _QUIET:
            seen["quiet"] = True
        elif word in _FLAGS:
            seen[_FLAGS[word]] = True
        else:
            return None
    if seen.get("all") and seen.get("inactive"):
        return None  # argparse's "not allowed with" usage error
    return NetListOptions(**seen)


def net_list_text(args: NetListOptions, connection: Connection) -> str:
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


def _serve(text_of: Callable[[Connection], str], out: TextIO, err: TextIO, *,
           quiet: bool, json: bool = False) -> int | None:
    """One quick command: its calls on one connection, then its text (virsh's empty
    line after it) or its error. None when this path cannot reach the bus: the full
    client then takes the command."""
    try:
        with Connection() as connection:
            text = text_of(connection)
    except Unsupported:
        return None
    except (CommandError, VnetdError) as exc:
        report(err, exc)
        return 1
    return finish(out, text, 0, quiet=quiet, json=json)


def run(args: NetListOptions, out: TextIO, err: TextIO) -> int | None:
    """Run ``net-list``; None when this path cannot reach the bus (use the full client)."""
    return _serve(lambda connection: net_list_text(args, connection), out, err,
                  quiet=args.quiet, json=args.json)


# -- lifecycle commands -------------------------------------------------------------------
# Measured like net-list: the dbus-fast path spends ~90 ms importing before it sends one
# call, so the everyday one-network commands take this path too when spelled plainly.


def parse_simple(words: Sequence[str]) -> tuple[bool, str, str] | None:
    """``[-q] COMMAND ARG`` for the commands above, or None for argparse to handle."""
    quiet, rest = _leading_quiet(words)
    if len(rest) != 2 or rest[0] not in (*ON_NETWORK, *FROM_FILE):
        return None
    if rest[1].startswith("-"):
        return None
    return quiet, rest[0], rest[1]


# DESIGN.md fixes a network's object path: /org/vnetd1/network/<name escaped as
# sd_bus_path_encode>. So the path of a named network is known without asking, and
# the name of a network a call returned is read from its path. The daemon encodes in
# vnetd.bus.names; vnetctl does not import the daemon, so it has its own copy, and
# tests/unit/test_cli_round_trips.py pins the two together.
_PATH_PREFIX = "/org/vnetd1/network/"
_PATH_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# What the bus or dbus-fast answers for a path with no object (no such network).
_NO_OBJECT = frozenset({"org.freedesktop.DBus.Error.UnknownMethod",
                        "org.freedesktop.DBus.Error.UnknownObject"})


def network_path(name: str) -> str:
    encoded = "".join(chr(b) if b in _PATH_SAFE else f"_{b:02x}" for b in name.encode())
    return _PATH_PREFIX + (encoded or "_")


def network_name(path: str) -> str | None:
    """The name in a network's object path; None for a path not of that form."""
    if not path.startswith(_PATH_PREFIX):
        return None
    element = path[len(_PATH_PREFIX):]
    if element == "_":
        return ""
    out = bytearray()
    i = 0
    try:
        while i < len(element):
            if element[i] == "_":
                out.append(int(element[i + 1:i + 3], 16))
                i += 3
            else:
                out.append(ord(element[i]))
                i += 1
        return out.decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _lookup(connection: Connection, text: str, uuid_too: bool = True) -> str:
    try:
        try:
            return str(connection.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "LookupByName",
                                       "s", (text,))[0])
        except NotFound:
            if not uuid_too or not looks_like_uuid(text):
                raise
        return str(connection.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "LookupByUUID",
                                   "s", (text,))[0])
    except VnetdError as exc:
        raise CommandError(f"failed to get network '{text}'", exc) from exc


def _call_network(connection: Connection, text: str, method: str, signature: str = "",
                  body: tuple[Any, ...] = (), *, interface: str = NETWORK_IFACE,
                  uuid_too: bool = True) -> list[Any]:
    """``method`` on the network named (or, failing that, with the UUID) ``text``:
    first on the path the name gives, which saves virsh's lookup call when the name is
    right; when no such object answers, as virsh does (name, then UUID)."""
    return _call_network_at(connection, text, method, signature, body, interface=interface,
                            uuid_too=uuid_too)[1]


def _call_network_at(connection: Connection, text: str, method: str, signature: str = "",
                     body: tuple[Any, ...] = (), *, interface: str = NETWORK_IFACE,
                     uuid_too: bool = True) -> tuple[str, list[Any]]:
    """``_call_network``, and the path of the network that answered."""
    path = network_path(text)
    try:
        return path, connection.call(BUS_NAME, path, interface, method, signature, body)
    except NotRunning as exc:  # worded as when the lookup came first
        raise CommandError(f"failed to get network '{text}'", exc) from exc
    except VnetdError as exc:
        if exc.dbus_name not in _NO_OBJECT:
            raise
    path = _lookup(connection, text, uuid_too)
    return path, connection.call(BUS_NAME, path, interface, method, signature, body)


def _simple_text(command: str, arg: str, connection: Connection) -> str:
    if command in ON_NETWORK:
        method, failed, done = ON_NETWORK[command]
        try:
            _call_network(connection, arg, method)
        except VnetdError as exc:
            raise CommandError(failed.format(arg), exc) from exc
        return done.format(arg) + "\n"
    method, failed, done = FROM_FILE[command]
    xml = read_file(arg)
    try:
        path = str(connection.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method, "s",
                                   (xml,))[0])
        name = network_name(path)
        if name is None:
            name = connection.call(BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
                                   "ss", (NETWORK_IFACE, "Name"))[0]
    except VnetdError as exc:
        raise CommandError(failed.format(arg), exc) from exc
    return done.format(name, arg) + "\n"


def run_simple(parsed: tuple[bool, str, str], out: TextIO, err: TextIO) -> int | None:
    """Run a plain lifecycle command; None when this path cannot reach the bus."""
    quiet, command, arg = parsed
    return _serve(lambda connection: _simple_text(command, arg, connection), out, err,
                  quiet=quiet)


# -- net-dumpxml ----------------------------------------------------------------------
XML_INACTIVE = 1  # libvirt's VIR_NETWORK_XML_INACTIVE


def _parse_with_flag(words: Sequence[str], command: str,
                     flag: str) -> tuple[bool, str, bool] | None:
    """``[-q] COMMAND NETWORK [FLAG]`` (either order): (quiet, network, flag given)."""
    quiet, rest = _leading_quiet(words)
    if not rest or rest.pop(0) != command:
        return None
    given = flag in rest
    names = [word for word in rest if word != flag]
    if len(names) != 1 or names[0].startswith("-") or rest.count(flag) > 1:
        return None
    return quiet, names[0], given


def parse_dumpxml(words: Sequence[str]) -> tuple[bool, str, bool] | None:
    """``[-q] net-dumpxml NETWORK [--inactive]`` (either order): (quiet, network,
    inactive), or None for argparse to handle."""
    return _parse_with_flag(words, "net-dumpxml", "--inactive")


def run_dumpxml(parsed: tuple[bool, str, bool], out: TextIO, err: TextIO) -> int | None:
    """``net-dumpxml``; None when this path cannot reach the bus (use the full client)."""
    quiet, network, inactive = parsed

    def text_of(connection: Connection) -> str:
        xml = str(_call_network(connection, network, "GetXMLDesc", "u",
                                (XML_INACTIVE if inactive else 0,))[0])
        return xml if xml.endswith("\n") else xml + "\n"

    return _serve(text_of, out, err, quiet=quiet)


# -- net-info, net-uuid ---------------------------------------------------------------
# net-name is not here: it looks a network up by UUID only, which a path cannot do.
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
READ_COMMANDS = frozenset({"net-info", "net-uuid"})


def parse_read(words: Sequence[str]) -> tuple[bool, str, str] | None:
    """``[-q] net-info|net-uuid NETWORK``: (quiet, command, network), or None."""
    quiet, rest = _leading_quiet(words)
    if len(rest) != 2 or rest[0] not in READ_COMMANDS or rest[1].startswith("-"):
        return None
    return quiet, rest[0], rest[1]


def run_read(parsed: tuple[bool, str, str], out: TextIO, err: TextIO) -> int | None:
    """``net-info`` (virsh's lookup: name, then UUID) or ``net-uuid`` (by name only)
    from one ``GetAll``; None when this path cannot reach the bus."""
    quiet, command, network = parsed

    def text_of(connection: Connection) -> str:
        path, values = _call_network_at(connection, network, "GetAll", "s",
                                        (NETWORK_IFACE,), interface=PROPERTIES_IFACE,
                                        uuid_too=command == "net-info")
        info = info_from_properties(path, values[0])
        return output.net_info(info) if command == "net-info" else f"{info.uuid}\n"

    return _serve(text_of, out, err, quiet=quiet)


# -- net-dhcp-leases --------------------------------------------------------------------


def parse_leases(words: Sequence[str]) -> tuple[bool, str, str] | None:
    """``[-q] net-dhcp-leases NETWORK [MAC] [--mac MAC]``: (quiet, network, mac), or
    None for argparse to handle (``--json``, ``--mac=...``, anything else)."""
    quiet, rest = _leading_quiet(words)
    if not rest or rest.pop(0) != "net-dhcp-leases":
        return None
    positional: list[str] = []
    option = None
    while rest:
        word = rest.pop(0)
        if word == "--mac" and rest and option is None and not rest[0].startswith("-"):
            option = rest.pop(0)
        elif word.startswith("-") or len(positional) == 2:
            return None
        else:
            positional.append(word)
    if not positional:
        return None
    mac = option or (positional[1] if len(positional) == 2 else "")
    return quiet, positional[0], mac


def run_leases(parsed: tuple[bool, str, str], out: TextIO, err: TextIO) -> int | None:
    """``net-dhcp-leases`` from one ``GetDHCPLeases``; None when this path cannot reach
    the bus."""
    quiet, network, mac = parsed

    def text_of(connection: Connection) -> str:
        try:
            items = _call_network(connection, network, "GetDHCPLeases", "su", (mac, 0))[0]
        except VnetdError as exc:
            raise CommandError(f"Failed to get leases info for {network}", exc) from exc
        return output.net_dhcp_leases([LeaseRecord(item) for item in items])

    return _serve(text_of, out, err, quiet=quiet)


# -- net-autostart --------------------------------------------------------------------


def parse_autostart(words: Sequence[str]) -> tuple[bool, str, bool] | None:
    """``[-q] net-autostart NETWORK [--disable]``: (quiet, network, disable), or None."""
    return _parse_with_flag(words, "net-autostart", "--disable")


def run_autostart(parsed: tuple[bool, str, bool], out: TextIO, err: TextIO) -> int | None:
    """``net-autostart``: one ``Set`` of the ``Autostart`` property; None when this
    path cannot reach the bus."""
    quiet, network, disable = parsed

    def text_of(connection: Connection) -> str:
        try:
            _call_network(connection, network, "Set", "ssv",
                          (NETWORK_IFACE, "Autostart", ("b", not disable)),
                          interface=PROPERTIES_IFACE)
        except VnetdError as exc:
            what = "unmark" if disable else "mark"
            raise CommandError(f"failed to {what} network {network} as autostarted",
                               exc) from exc
        return f"Network {network} {'unmarked' if disable else 'marked'} as autostarted\n"

    return _serve(text_of, out, err, quiet=quiet)


# -- dispatch -------------------------------------------------------------------------

_QUICK: tuple[tuple[Callable[[Sequence[str]], Any],
                    Callable[[Any, TextIO, TextIO], int | None]], ...] = (
    (parse_net_list, run), (parse_simple, run_simple), (parse_dumpxml, run_dumpxml),
    (parse_read, run_read), (parse_leases, run_leases), (parse_autostart, run_autostart))


def run_quick(words: Sequence[str], out: TextIO, err: TextIO) -> int | None:
    """Serve ``words`` here when they are one of the plain spellings above; None when
    they are not, or the bus cannot be reached this way: argparse and dbus-fast then
    take the command."""
    for parse, run_parsed in _QUICK:
        parsed = parse(words)
        if parsed is not None:
            return run_parsed(parsed, out, err)
    return None
