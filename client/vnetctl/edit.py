"""``net-edit``: virsh's edit loop (``tools/virsh-edit.c``) against vnetd.

Dump the next-start XML into a temporary file, run ``$VISUAL``/``$EDITOR`` (vi),
define the result; on failure ask "Try again? [y,n,f,?]" (y: edit again, n: throw
the changes away, f: define again as is). virsh offers ``i`` only where it can turn
schema validation off, which it cannot for networks, and neither can vnetd.
Without a terminal on stdin the answer is "n", as in virsh.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from typing import TextIO

from .client import Client, Network
from .errors import VnetdError
from .types import XmlFlags

CHANGED_BY_OTHER = "The XML configuration was changed by another user."
HELP = (
    "y - yes, start editor again\n"
    "n - no, throw away my changes\n"
    "f - force, try to redefine again\n"
    "? - print this help\n"
)


def editor_command() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def run_editor(path: str) -> None:
    editor = editor_command()
    # Through the shell, as virsh does for editors with arguments ("emacs -nw").
    result = subprocess.run(["/bin/sh", "-c", editor + ' "$1"', "sh", path], check=False)
    if result.returncode != 0:
        raise VnetdError(f"editor command '{editor} {path}' failed with status {result.returncode}")


def ask_reedit(message: str, out: TextIO) -> str:
    """'y', 'n' or 'f'; 'n' when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return "n"
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    # One key press, no Enter; TCSANOW keeps a key typed ahead of the prompt.
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        while True:
            out.write(f"\r{message} Try again? [y,n,f,?]: ")
            out.flush()
            key = os.read(fd, 1).decode(errors="replace").lower()
            if not key:
                return "n"  # end of input
            if key == "?":
                out.write("\n" + HELP)
                continue
            if key in ("y", "n", "f"):
                out.write("\r\n")
                out.flush()
                return key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def edit_network(client: Client, net: Network, out: TextIO) -> int:
    from .outcome import report

    doc = await net.get_xml_desc(XmlFlags.INACTIVE)
    name = await net.name()
    fd, path = tempfile.mkstemp(prefix="vnetctl", suffix=".xml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        while True:  # re-edit
            await asyncio.to_thread(run_editor, path)
            with open(path, encoding="utf-8") as f:
                edited = f.read()
            if edited == doc:
                out.write(f"Network {name} XML configuration not changed.\n")
                return 0
            while True:  # redefine
                message = None
                reread = await net.get_xml_desc(XmlFlags.INACTIVE)
                if reread != doc:
                    message, doc = CHANGED_BY_OTHER, reread
                else:
                    try:
                        defined = await client.define_xml(edited)
                    except VnetdError as exc:
                        report(sys.stderr, exc)
                        message = "Failed."
                    else:
                        out.write(f"Network {await defined.name()} XML configuration edited.\n")
                        return 0
                answer = await asyncio.to_thread(ask_reedit, message, out)
                if answer == "f":
                    continue
                break
            if answer == "y":
                continue
            return 1
    finally:
        os.unlink(path)
