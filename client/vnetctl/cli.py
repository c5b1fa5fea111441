"""``vnetctl``: virsh's ``net-*`` commands against vnetd.

``net-list`` in its usual spellings is served before argparse or dbus-fast are even
imported (:mod:`vnetctl.quick`); every other command line goes through the parser, and
the D-Bus client is imported once a command that needs it runs.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # see records.py: the quick commands do not import typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn, TextIO


def enable_site_packages() -> None:
    """The launcher starts Python with -S (packaging/vnetctl-launcher); every command
    beyond the quick ones needs site-packages for dbus-fast."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def _help(words: Sequence[str], out: TextIO) -> int:
    from .parser import COMMAND_NAMES, build_parser

    parser = build_parser()
    args = parser.parse_args(words)
    if args.commands:  # plain list for shell completion
        out.write("".join(f"{name}\n" for name in (*COMMAND_NAMES, "help")))
        return 0
    if args.topic is None:
        parser.print_help(out)
        return 0
    parser.parse_args([args.topic, "--help"])  # prints the command's help and exits 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    from . import quick

    status = quick.run_quick(words, sys.stdout, sys.stderr)
    if status is not None:
        return status
    enable_site_packages()
    from .parser import build_parser, named_command

    parser = build_parser(named_command(words))
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help(sys.stdout)
        return 0
    if args.command == "help":
        return _help(words, sys.stdout)
    if args.command in quick.COMMANDS:  # e.g. an abbreviated option: argparse knew it
        status = quick.run(quick.NetListOptions.from_namespace(args), sys.stdout, sys.stderr)
        if status is not None:
            return status
    from .commands import run

    return run(args, sys.stdout, sys.stderr)


def run() -> NoReturn:
    """The launcher's entry: ``main``, then the process ends without the interpreter's
    teardown of every module (~1 ms of each command on the dev lab, an eighth of a
    ``net-list``): nothing of vnetctl's needs it once the output is flushed."""
    try:
        status: object = main()
    except SystemExit as exc:
        status = exc.code
    if status is None:
        status = 0
    elif not isinstance(status, int):
        sys.stderr.write(f"{status}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what Python reports when stdout could not be flushed
    import os

    os._exit(status)


if __name__ == "__main__":
    run()
