"""Applier: installs the builder's rules through the official nftables binding.

Every apply and remove is one ``json_cmd`` document, which libnftables sends as one
netlink batch: the kernel commits all of it or none of it. Reads (``nft list``) are
separate and never change anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import Conflict, Failed
from ..model import NetworkDefinition
from . import state as table_state
from . import sysctl
from .foreign import ForeignDrop, find_foreign_drops
from .rules import (
    FAMILY,
    INPUT_CHAIN,
    SETS,
    TABLE,
    Json,
    NetworkRules,
    apply_commands,
    build_network,
    document,
    guard_part,
    is_network_chain,
    remove_commands,
)

log = logging.getLogger(__name__)

GUARD_ENV = "VNETD_TEST_GUARD"
T = TypeVar("T")


class NftContext(Protocol):
    """The part of ``nftables.Nftables`` used here."""

    def json_cmd(self, json_root: Json) -> tuple[int, Any, str]: ...


def _netns_inode(path: str) -> int:
    return os.stat(path).st_ino


NETNS_DIR = Path("/run/netns")


def check_guard(netns_dir: Path = NETNS_DIR) -> None:
    """Tests set VNETD_TEST_GUARD=1: then refuse to touch the initial network
    namespace (one mistyped command once put a table into a developer's ruleset)."""
    if os.environ.get(GUARD_ENV) != "1":
        return
    try:
        own = _netns_inode("/proc/self/ns/net")
    except OSError as exc:
        raise Failed(f"{GUARD_ENV}=1 but the network namespace cannot be checked: {exc}") from exc
    refuse = False
    with contextlib.suppress(OSError):  # /proc/1 is out of reach in some sandboxes
        refuse = own == _netns_inode("/proc/1/ns/net")
    # Tests only ever run inside namespaces made with `ip netns add`; requiring one of
    # those works even where /proc/1 cannot be read.
    named = set()
    for entry in netns_dir.glob("*") if netns_dir.is_dir() else ():
        with contextlib.suppress(OSError):
            named.add(_netns_inode(str(entry)))
    if refuse or own not in named:
        raise Failed(f"{GUARD_ENV}=1: refusing to change nftables in the initial network "
                     "namespace; run under `ip netns exec`")


def _new_context() -> NftContext:
    from nftables import Nftables

    nft = Nftables()
    nft.set_json_output(True)
    return nft  # type: ignore[no-any-return]


class NftFirewall:
    """``FirewallBackend`` on table ``inet vnetd``."""

    def __init__(self, context: NftContext | None = None,
                 sysctl_root: Path = sysctl.PROC_SYS) -> None:
        self._context = context
        self._injected = context is not None
        self._sysctl_root = sysctl_root
        # A libnftables context is not thread-safe; the daemon may call from a worker.
        self._lock = threading.Lock()
        self._read_ahead: tuple[threading.Thread, list[Any]] | None = None
        # The skeleton as this applier's last transaction left it. Listing chains and maps
        # costs two libnftables round trips (~7 ms with 100 networks, growing with each),
        # more than the transaction itself; vnetd is the table's only writer, and when
        # someone else changed it a transaction built on the cache fails: then the
        # skeleton is read from the kernel and the transaction built again.
        self._cached: table_state.TableState | None = None
        self._last_built: tuple[NetworkDefinition, NetworkRules] | None = None

    @property
    def _nft(self) -> NftContext:
        if self._context is None:
            self._context = _new_context()
        return self._context

    @property
    def _reader(self) -> NftContext:
        """A context for one full listing, dropped after it (unless one was injected).

        libnftables caches what a command fetched in its context: after a listing of
        the whole table that is every network's rules, ~40-70 KB of C heap per running
        network, kept for as long as the context lives (18 networks in the dev lab:
        1.4 MB freed by dropping it). Applies keep their own context: its cache of chains
        and maps stays valid across vnetd's own transactions and saves ~10 ms per start,
        which a listing in between would cost if it went through the same context."""
        return self._nft if self._injected else _new_context()

    # --- low level -------------------------------------------------------------

    def _run(self, cmds: list[Json], what: str) -> None:
        check_guard()
        rc, _, err = self._nft.json_cmd(document(cmds))
        if rc != 0:
            message = " ".join(err.split()) or f"exit status {rc}"
            if "File exists" in message or "overlaps" in message:
                raise Conflict(f"{what}: a bridge name or subnet is already used by another "
                               f"network's rules ({message})")
            raise Failed(f"{what}: nftables refused the transaction: {message}")

    def list_table(self) -> table_state.TableState:
        check_guard()
        rc, out, err = self._reader.json_cmd(
            document([{"list": {"table": {"family": FAMILY, "name": TABLE}}}]))
        if rc != 0:
            if "No such file or directory" in err:
                return table_state.TableState(exists=False)
            raise Failed(f"cannot list table {FAMILY} {TABLE}: {' '.join(err.split())}")
        return table_state.parse_table(out if isinstance(out, dict) else None)

    def _skeleton(self) -> table_state.TableState:
        """Chains (without their rules), maps and sets (with their elements) of our table: all
        that apply and remove need, without parsing every network's rules."""
        check_guard()
        items: list[Json] = []
        for what in ("chains", "maps", "sets"):  # one listing per document: the binding parses one
            rc, out, err = self._nft.json_cmd(document([{"list": {what: {}}}]))
            if rc != 0:
                raise Failed(f"cannot list nftables {what}: {' '.join(err.split())}")
            items.extend(out.get("nftables", []) if isinstance(out, dict) else [])
        ours = [item for item in items
                if any(isinstance(v, dict) and v.get("family") == FAMILY
                       and v.get("table") == TABLE for v in item.values())]
        return table_state.parse_table({"nftables": ours})

    # --- FirewallBackend ---------------------------------------------------------

    def _build(self, definition: NetworkDefinition) -> NetworkRules:
        """``build_network``, once for the guard and the apply of one start (the runner
        hands both the same definition object)."""
        last = self._last_built
        if last is not None and last[0] is definition:
            return last[1]
        rules = build_network(definition)
        self._last_built = (definition, rules)
        return rules

    def apply(self, definition: NetworkDefinition) -> None:
        rules = self._build(definition)  # bad input fails here, before any change
        with self._lock:
            self._apply_locked(definition, rules)

    def guard(self, definition: NetworkDefinition) -> None:
        part = guard_part(self._build(definition))
        if part is None:
            return
        with self._lock:
            self._with_skeleton(lambda current: self._guard_on(current, part))

    def _guard_on(self, current: table_state.TableState, part: NetworkRules) -> None:
        # Only adds: the full apply that follows drops what the network no longer wants,
        # and rewrites the dispatch rules. The skeleton is sent only when the table or
        # the guard's base chain or sets are missing; a base chain changed behind our
        # back is put right by drift repair (the nft monitor reports it).
        present = current.exists and INPUT_CHAIN in current.chains and \
            all(name in current.sets for name in SETS)
        self._run(apply_commands(part, skeleton=not present),
                  f"firewall guard of network {part.name!r}")
        self._cached = table_state.with_added(current, part)

    def _apply_locked(self, definition: NetworkDefinition, rules: NetworkRules) -> None:
        chains = self._with_skeleton(lambda current: self._apply_to(current, definition.name,
                                                                     rules))
        try:
            written = sysctl.enable_forwarding(definition, self._sysctl_root)
        except Failed:
            if not chains and rules.chains:  # this apply created the rules: undo it
                self._remove_locked(definition.name)
            raise
        if written:
            log.info("enabled %s for network %s", ", ".join(written), definition.name)

    def _apply_to(self, current: table_state.TableState, name: str,
                  rules: NetworkRules) -> set[str]:
        """One transaction from ``current``; the chains the network had before."""
        elements, chains = table_state.owned(current, name)
        if rules.empty():  # open mode: no rules; drop any left from another mode
            if elements or chains:
                self._run(remove_commands(elements, chains), f"firewall of network {name!r}")
        else:
            wanted = {(e.map, table_state.element_key(e.key_json())) for e in rules.elements}
            wanted |= {(m.set, table_state.element_key(m.key_json())) for m in rules.members}
            stale = [(m, k) for m, k in elements
                     if (m, table_state.element_key(k)) not in wanted]
            self._run(apply_commands(rules, stale, chains - rules.chain_names()),
                      f"firewall of network {name!r}")
        self._cached = table_state.with_network(current, name, rules)
        return chains

    def _with_skeleton(self, transaction: Callable[[table_state.TableState], T]) -> T:
        """Run ``transaction`` on the cached skeleton; if the kernel refuses it, read the
        skeleton and run it once more (the error then is the kernel's answer)."""
        cached, self._cached = self._cached, None
        if cached is not None:
            try:
                return transaction(cached)
            except (Failed, Conflict) as exc:
                log.debug("transaction on the cached skeleton refused (%s); reading it", exc)
        return transaction(self._skeleton())

    def remove(self, network_name: str) -> None:
        with self._lock:
            self._remove_locked(network_name)

    def _remove_locked(self, network_name: str) -> None:
        self._with_skeleton(lambda current: self._remove_from(current, network_name))

    def _remove_from(self, current: table_state.TableState, network_name: str) -> None:
        elements, chains = table_state.owned(current, network_name)
        if not elements and not chains:
            self._cached = current
            return
        others = [c for c in current.chains if is_network_chain(c) and c not in chains]
        if others:
            self._run(remove_commands(elements, chains),
                      f"removing firewall of network {network_name!r}")
            self._cached = table_state.without_network(current, network_name)
        else:
            # The last network leaves no empty table behind, as if vnetd never ran.
            self._run([{"delete": {"table": {"family": FAMILY, "name": TABLE}}}],
                      f"removing firewall of network {network_name!r}")
            self._cached = table_state.TableState(exists=False)

    def problems(self, definition: NetworkDefinition,
                 current: table_state.TableState | None = None,
                 index: table_state.Index | None = None) -> list[str]:
        """Why ``verify`` fails, for logs; empty when all is in place. ``index`` is
        ``table_state.index(current)`` when many networks are checked."""
        rules = build_network(definition)
        if current is None:
            with self._lock:
                current = self.list_table()
        found = table_state.network_problems(current, rules, index)
        found.extend(f"sysctl {key.replace('/', '.')} is not 1"
                     for key in sysctl.forwarding_drift(definition, self._sysctl_root))
        return found

    def verify(self, definition: NetworkDefinition) -> bool:
        return self.verify_many([definition])[definition.name]

    def verify_many(self, definitions: Sequence[NetworkDefinition]) -> dict[str, bool]:
        # libnftables fetches the whole table for any listing, so checking many networks
        # against one listing is O(networks) where one listing each was O(networks²).
        with self._lock:
            current = self.list_table()
        return self._verify_against(definitions, current)

    def read_ahead(self) -> None:
        """Start listing the table in a thread now, for the next ``verify_installed``.

        Daemon start: the listing of 100 networks took ~100 ms, 70 of them inside
        libnftables, which runs without the GIL; started first, it runs while the daemon
        imports its other modules and reads its files."""
        box: list[Any] = []

        def work() -> None:
            try:
                with self._lock:
                    box.append(self.list_table())
            except BaseException as exc:  # handed to verify_installed's caller
                box.append(exc)

        thread = threading.Thread(target=work, name="nft-read-ahead", daemon=True)
        thread.start()
        self._read_ahead = (thread, box)

    def verify_installed(self, definitions: Sequence[NetworkDefinition]
                         ) -> tuple[dict[str, bool], set[str]]:
        # Daemon start: one listing for adoption and leftover cleanup (they took one
        # each); the one ``read_ahead`` started, if any.
        pending, self._read_ahead = self._read_ahead, None
        if pending is not None:
            thread, box = pending
            thread.join()
            if isinstance(box[0], BaseException):
                raise box[0]
            current: table_state.TableState = box[0]
        else:
            with self._lock:
                current = self.list_table()
        return (self._verify_against(definitions, current),
                table_state.installed_networks(current))

    def _verify_against(self, definitions: Sequence[NetworkDefinition],
                        current: table_state.TableState) -> dict[str, bool]:
        result = {}
        index = table_state.index(current)
        for definition in definitions:
            found = self.problems(definition, current, index)
            if found:
                log.info("firewall of network %s drifted: %s", definition.name,
                         "; ".join(found))
            result[definition.name] = not found
        return result

    def _all_chains(self) -> Json | None:
        with self._lock:
            rc, out, err = self._reader.json_cmd(document([{"list": {"chains": {}}}]))
        if rc != 0:
            raise Failed(f"cannot list nftables chains: {' '.join(err.split())}")
        return out if isinstance(out, dict) else None

    def foreign_drops(self) -> list[ForeignDrop]:
        """Other tables' drop-policy forward/input chains (read only; for warnings)."""
        return find_foreign_drops(self._all_chains())

    def installed_networks(self) -> set[str]:
        with self._lock:
            return table_state.installed_networks(self.list_table())
