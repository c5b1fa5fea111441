"""Definitions, autostart marks and runtime status on disk.

Every write is atomic: a temporary file in the same directory, fsync, rename over the
target, fsync of the directory. A reader therefore sees the old file or the new one,
never a truncated one, whatever moment the daemon dies at. Runtime status skips the two
fsyncs: it describes kernel state (bridges, rules, processes) that a power loss or
kernel crash takes with it, it lives in /run, which does not outlive a boot either, and
against a crash of the daemon alone the rename is what counts (the page cache keeps the
data). On a disk-backed run directory those fsyncs were ~4 ms of each Destroy and ~6 ms
of each Start (both write the status twice).

A file that cannot be read or parsed at load is reported and moved aside
(``*.corrupt``), never deleted, and never stops the daemon.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import testhooks
from .errors import Failed, InvalidArgument
from .model import NetworkDefinition
from .paths import Paths

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that no reader ever sees a partial file;
    ``durable``: also on disk when this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{path.name}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = data.encode()
            testhooks.maybe_crash("store-write-partial")
            os.write(fd, view)
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        testhooks.maybe_crash("store-before-rename")
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise Failed(f"cannot write {path}: {exc.strerror}") from exc


def _remove(path: Path, *, durable: bool = True) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise Failed(f"cannot remove {path}: {exc.strerror}") from exc
    if durable:
        _fsync_dir(path.parent)


@dataclass(frozen=True)
class StoredNetwork:
    """A persistent definition as stored, with its autostart mark."""

    definition: NetworkDefinition
    autostart: bool


@dataclass(frozen=True)
class RuntimeStatus:
    """What the daemon must know to adopt a running network after a restart."""

    definition: NetworkDefinition  # the definition that runs
    persistent: bool
    bridge_ifindex: int | None
    dnsmasq_pid: int | None
    started_at: float
    # "starting" and "stopping" mark an operation in flight: after a crash the daemon
    # rolls it back (starting) or completes it (stopping) instead of adopting.
    phase: str = "running"

    def to_json(self, format_network: Callable[[NetworkDefinition], str]) -> str:
        doc: dict[str, Any] = {
            "version": 1,
            "definition": format_network(self.definition),
            "persistent": self.persistent,
            "bridge_ifindex": self.bridge_ifindex,
            "dnsmasq_pid": self.dnsmasq_pid,
            "started_at": self.started_at,
            "phase": self.phase,
        }
        return json.dumps(doc, indent=2) + "\n"


def _header(name: str) -> str:
    """The comment ``save_definition`` writes before a definition's XML."""
    if "--" in name:
        return ""  # a name with "--" cannot appear inside an XML comment
    return ("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
            "OVERWRITTEN AND LOST. Changes to this network should be made using:\n"
            f"  vnetctl net-edit {name}\n"
            "or other application using the vnetd API.\n-->\n\n")


class Store:
    def __init__(self, paths: Paths,
                 parse: Callable[[str], NetworkDefinition],
                 format: Callable[[NetworkDefinition], str]) -> None:
        self.paths = paths
        self._parse = parse
        self._format = format
        # Definitions just loaded, by the XML they were saved as (load_statuses reuses
        # them: a running network's status usually holds the very same XML).
        self._loaded: dict[str, NetworkDefinition] = {}

    def prepare(self) -> None:
        """Create the directories with modes that keep definitions root-only writable."""
        for directory, mode in ((self.paths.networks_dir, 0o755),
                                (self.paths.autostart_dir, 0o755),
                                (self.paths.status_dir, 0o755),
                                (self.paths.dnsmasq_dir, 0o755)):
            directory.mkdir(parents=True, exist_ok=True, mode=mode)
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        # Temporaries are only ever ours and only half-written by a crashed write.
        for directory in (self.paths.config_dir, self.paths.networks_dir,
                          self.paths.autostart_dir, self.paths.status_dir):
            for tmp in directory.glob(f"{TMP_PREFIX}*"):
                log.info("removing temporary file left by an interrupted write: %s", tmp)
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # -- definitions -------------------------------------------------------------------

    def definition_path(self, name: str) -> Path:
        return self.paths.networks_dir / f"{name}.xml"

    def autostart_path(self, name: str) -> Path:
        return self.paths.autostart_dir / f"{name}.xml"

    def _set_aside(self, path: Path, reason: str) -> None:
        target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        log.error("set aside unreadable %s as %s: %s", path, target.name, reason)
        try:
            os.replace(path, target)
        except OSError as exc:
            log.error("could not set aside %s: %s", path, exc.strerror)

    def load_definitions(self) -> list[StoredNetwork]:
        found: list[StoredNetwork] = []
        if not self.paths.networks_dir.is_dir():
            return found
        self._loaded = {}
        for path in sorted(self.paths.networks_dir.glob("*.xml")):
            try:
                text = path.read_text()
                definition = self._parse(text)
            except (OSError, UnicodeDecodeError) as exc:
                self._set_aside(path, str(exc))
                continue
            except InvalidArgument as exc:
                self._set_aside(path, exc.message)
                continue
            if definition.name != path.stem:
                self._set_aside(path, f"file name does not match network name {definition.name!r}")
                continue
            autostart = self.autostart_path(definition.name).is_symlink()
            found.append(StoredNetwork(definition, autostart))
            header = _header(definition.name)
            if text.startswith(header):
                self._loaded[text[len(header):]] = definition
        return found

    def save_definition(self, definition: NetworkDefinition) -> None:
        atomic_write(self.definition_path(definition.name),
                     _header(definition.name) + self._format(definition))

    def delete_definition(self, name: str) -> None:
        self.set_autostart(name, False)
        _remove(self.definition_path(name))

    def set_autostart(self, name: str, enabled: bool) -> None:
        link = self.autostart_path(name)
        if not enabled:
            _remove(link)
            return
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.parent / f"{TMP_PREFIX}{link.name}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.symlink(self.definition_path(name), tmp)
            os.replace(tmp, link)
            _fsync_dir(link.parent)
        except OSError as exc:
            raise Failed(f"cannot write autostart mark {link}: {exc.strerror}") from exc

    # -- runtime status ----------------------------------------------------------------

    def status_path(self, name: str) -> Path:
        return self.paths.status_dir / f"{name}.json"

    def save_status(self, name: str, status: RuntimeStatus) -> None:
        atomic_write(self.status_path(name), status.to_json(self._format), mode=0o600,
                     durable=False)

    def delete_status(self, name: str) -> None:
        _remove(self.status_path(name), durable=False)

    def load_statuses(self) -> dict[str, RuntimeStatus]:
        """Statuses of running networks. Right after ``load_definitions``, a status whose
        XML is a stored definition's, byte for byte, shares its parsed definition
        (parsing both took ~100 ms with 100 running networks at daemon start)."""
        loaded, self._loaded = self._loaded, {}
        found: dict[str, RuntimeStatus] = {}
        if not self.paths.status_dir.is_dir():
            return found
        for path in sorted(self.paths.status_dir.glob("*.json")):
            try:
                doc = json.loads(path.read_text())
                text = doc["definition"]
                status = RuntimeStatus(
                    definition=loaded.get(text) or self._parse(text),
                    persistent=bool(doc["persistent"]),
                    bridge_ifindex=doc.get("bridge_ifindex"),
                    dnsmasq_pid=doc.get("dnsmasq_pid"),
                    started_at=float(doc.get("started_at", 0.0)),
                    phase=str(doc.get("phase", "running")),
                )
            except (OSError, ValueError, KeyError, TypeError, InvalidArgument) as exc:
                self._set_aside(path, str(exc))
                continue
            found[status.definition.name] = status
        return found
