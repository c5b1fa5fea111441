"""How a CLI command ends: virsh's ``error:`` lines, or the buffered output and its
trailing empty line. Kept free of D-Bus imports so that every command path can use it."""

from __future__ import annotations

TYPE_CHECKING = False  # see records.py: net-list does not import typing
if TYPE_CHECKING:
    from typing import TextIO


class CommandError(Exception):
    """A refused command: virsh's own line first, then the daemon's reason."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


def report(err: TextIO, exc: BaseException) -> None:
    if isinstance(exc, CommandError):
        err.write(f"error: {exc.message}\n")
        if exc.cause is not None:
            err.write(f"error: {exc.cause}\n")
    else:
        err.write(f"error: {exc}\n")
    err.flush()


def finish(out: TextIO, text: str, status: int, *, quiet: bool, json: bool) -> int:
    """Write a command's buffered output; virsh adds an empty line after a success
    (``vshCommandRun``) unless ``--quiet``; JSON output stays pure JSON."""
    out.write(text)
    if status == 0 and not quiet and not json:
        out.write("\n")
    out.flush()
    return status


# virsh's wording, shared by the quick path and the dbus-fast path.
# One-network lifecycle commands: (D-Bus method, failure line, success line).
ON_NETWORK = {
    "net-start": ("Start", "Failed to start network {}", "Network {} started"),
    "net-destroy": ("Destroy", "Failed to destroy network {}", "Network {} destroyed"),
    "net-undefine": ("Undefine", "Failed to undefine network {}",
                     "Network {} has been undefined"),
}
# Commands that send a file's XML: (D-Bus method, failure line, success line).
FROM_FILE = {
    "net-define": ("DefineXML", "Failed to define network from {}",
                   "Network {} defined from {}"),
    "net-create": ("CreateXML", "Failed to create network from {}",
                   "Network {} created from {}"),
}


def read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise CommandError(f"Failed to open file '{path}': {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"Failed to open file '{path}': {exc}") from exc
