"""Notice changes to table ``inet vnetd`` made behind vnetd's back, without polling.

A firewall service restart or `nft flush ruleset` silently removes every network's
rules (reference §5, pain point 11); libvirt notices only at its next restart. This
runs `nft monitor` (the kernel's NFNLGRP_NFTABLES multicast group, decoded by nft
itself) as a child process and reports each change to vnetd's table made by another
process, and when another process changed another table (for the foreign-rule report).

The monitor ends each transaction with a "# new generation N by process PID (name)"
line. Transactions of this process (any of its threads) are dropped there: they are
vnetd's own starts, stops and updates, and checking after each of them listed the whole
table, ~90 ms of CPU with 100 networks, on the event loop. (``nft -j monitor`` does not
print the generation lines, hence the text form.) Callers get the other changes in
bursts (``quiet`` seconds of silence end a burst) and answer a burst with ``verify``
and, where it fails, ``apply``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .rules import FAMILY, TABLE, chain_ids, is_network_chain

log = logging.getLogger(__name__)

MAX_KEPT = 1000
_GENERATION = re.compile(r"# new generation \d+(?: by process (\d+))?")
_JUMP = re.compile(r"\b(?:jump|goto) ([A-Za-z0-9_.-]+)")


@dataclass(frozen=True)
class Change:
    """One change `nft monitor` reported: ``add rule inet vnetd CHAIN ...`` and such."""

    verb: str  # add, delete, ...
    kind: str  # table, chain, rule, set, map, element, ...
    family: str
    table: str
    name: str  # a chain's, set's or map's name; a rule's chain; "" for a table
    targets: tuple[str, ...] = ()  # the chains an element jumps or goes to


BurstCallback = Callable[[list[Change]], None]


def parse_change(line: str) -> Change | None:
    """A monitor line describing a change, or None (a comment, a trace, anything else)."""
    words = line.split(maxsplit=5)
    if len(words) < 4 or line.startswith("#"):
        return None
    verb, kind, family, table = words[:4]
    if kind == "table":
        return Change(verb, kind, family, table, "")
    if len(words) < 5:
        return None
    targets = tuple(_JUMP.findall(line)) if kind == "element" else ()
    return Change(verb, kind, family, table, words[4], targets)


def concerns_vnetd(change: Change) -> bool:
    return change.family == FAMILY and change.table == TABLE


def _own_thread(pid: int) -> bool:
    """The kernel names the committing thread. vnetd commits from its event loop's
    thread; a thread that has ended by the time the monitor's line is read is taken for
    another process (its changes are checked: slower, never wrong). In a PID namespace
    the kernel's numbers are the initial namespace's, so all changes are checked."""
    return pid == os.getpid() or os.path.exists(f"/proc/self/task/{pid}")


@dataclass(frozen=True)
class Finished:
    """What one transaction of another process changed."""

    vnetd: list[Change]  # in vnetd's table (at most MAX_KEPT)
    other_tables: bool  # anything in another table (what foreign-rule reports read)


class Transactions:
    """Feed monitor lines; get what each finished transaction of another process
    changed."""

    def __init__(self, ours: Callable[[int], bool] = _own_thread) -> None:
        self._ours = ours
        self._open: list[Change] = []
        self._open_others = False

    def feed(self, line: str) -> Finished | None:
        """None while a transaction is open, and for one of this process."""
        generation = _GENERATION.match(line)
        if generation is None:
            change = parse_change(line)
            if change is not None and not concerns_vnetd(change):
                self._open_others = True
            elif change is not None and len(self._open) < MAX_KEPT:
                self._open.append(change)
            return None
        done = Finished(self._open, self._open_others)
        self._open, self._open_others = [], False
        pid = generation.group(1)
        if pid is not None and self._ours(int(pid)):
            return None
        return done


async def watch(on_burst: BurstCallback, *, quiet: float = 0.2, nft: str = "nft",
                started: asyncio.Event | None = None, longest: float = 1.0,
                on_other_tables: Callable[[], None] | None = None) -> None:
    """Run until cancelled (or until the monitor process ends, e.g. nft is missing).

    ``started`` is set once the monitor process runs; the kernel subscription follows
    within milliseconds, so a caller that must not miss an event waits a moment more.
    A burst is also delivered once it has lasted ``longest`` seconds: changes that never
    pause (a busy daemon, a hostile loop) must neither delay repair for ever nor pile up
    events in memory; at most ``MAX_KEPT`` events of a burst are kept.
    ``on_other_tables`` is called once per burst in which another process changed
    another table (Docker, ufw, firewalld: where foreign drop rules come from)."""
    proc = await asyncio.create_subprocess_exec(
        nft, "monitor", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL,
        limit=1 << 22)
    assert proc.stdout is not None
    if started is not None:
        started.set()
    transactions = Transactions()
    burst: list[Change] = []
    others = False  # another table changed in this burst
    loop = asyncio.get_running_loop()
    ends = 0.0  # when the current burst is delivered even without a pause
    try:
        while True:
            waiting = bool(burst) or others
            timeout = max(0.0, min(quiet, ends - loop.time())) if waiting else None
            try:
                # Not asyncio.wait_for: on Python 3.11 a cancellation that arrives as the
                # line does is lost, and under a stream of events the watch (and a
                # stopping daemon waiting for it) then ran on for ever.
                async with asyncio.timeout(timeout):
                    line = await proc.stdout.readline()
            except TimeoutError:
                if burst:
                    _safely(on_burst, burst)
                if others and on_other_tables is not None:
                    _safely(on_other_tables)
                burst, others = [], False
                continue
            if not line:
                break
            finished = transactions.feed(line.decode(errors="replace"))
            if finished is None or not (finished.vnetd or finished.other_tables):
                continue
            if not waiting:
                ends = loop.time() + longest
            burst.extend(finished.vnetd[: MAX_KEPT - len(burst)])
            others = others or finished.other_tables
        if burst:
            _safely(on_burst, burst)
    finally:
        # SIGKILL at once: the monitor has nothing to save, and a daemon stopping must
        # not wait for it (it only reads events, so no change can be cut in half).
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _safely(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:  # a failing callback must not end the watch
        log.exception("firewall change callback failed")


def _touched_chains(changes: list[Change]) -> set[str] | None:
    """Names of network chains these changes touched; None when one hit something all
    networks share (the table, a base chain, a map), so all need a look."""
    chains: set[str] = set()
    for change in changes:
        if change.kind in ("rule", "chain"):
            found: tuple[str, ...] = (change.name,)
        elif change.kind == "element":
            found = change.targets
        else:
            return None
        if not found or not all(is_network_chain(chain) for chain in found):
            return None
        chains.update(found)
    return chains


def affected_networks(changes: list[Change], names: Collection[str]) -> set[str] | None:
    """Which of these networks a burst of changes touched; None when a change hit what
    all networks share (the table, a base chain, a map), so that every network needs a
    look."""
    chains = _touched_chains(changes)
    if chains is None:
        return None
    return {name for name in names if chains & set(chain_ids(name).all())}
