"""Notice changes to table ``inet vnetd`` made behind vnetd's back, without polling.

A firewall service restart or `nft flush ruleset` silently removes every network's
rules (reference §5, pain point 11); libvirt notices only at its next restart. This
runs `nft -j monitor` (the kernel's NFNLGRP_NFTABLES multicast group, decoded by nft
itself) as a child process and reports each event that touches vnetd's table.

vnetd's own transactions show up too: callers get events in bursts (``quiet``
seconds of silence end a burst) and should answer a burst with ``verify`` and, where
it fails, ``apply`` — both idempotent, so a burst caused by vnetd itself costs one
listing and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection
from typing import Any

from .rules import FAMILY, TABLE, Json, chain_ids, is_network_chain

log = logging.getLogger(__name__)

BurstCallback = Callable[[list[Json]], None]
MAX_KEPT = 1000


def concerns_vnetd(event: Json) -> bool:
    """True for an add/delete/flush/replace event of vnetd's table or anything in it."""
    for verb in ("add", "delete", "flush", "replace", "insert", "destroy"):
        body = event.get(verb)
        if not isinstance(body, dict):
            continue
        for kind, obj in body.items():
            if not isinstance(obj, dict) or obj.get("family") != FAMILY:
                continue
            if obj.get("table") == TABLE or (kind == "table" and obj.get("name") == TABLE):
                return True
    return False


async def watch(on_burst: BurstCallback, *, quiet: float = 0.2, nft: str = "nft",
                started: asyncio.Event | None = None, longest: float = 1.0) -> None:
    """Run until cancelled (or until the monitor process ends, e.g. nft is missing).

    ``started`` is set once the monitor process runs; the kernel subscription follows
    within milliseconds, so a caller that must not miss an event waits a moment more.
    A burst is also delivered once it has lasted ``longest`` seconds: changes that never
    pause (a busy daemon, a hostile loop) must neither delay repair for ever nor pile up
    events in memory; at most ``MAX_KEPT`` events of a burst are kept."""
    proc = await asyncio.create_subprocess_exec(
        nft, "-j", "monitor", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL,
        limit=1 << 22)
    assert proc.stdout is not None
    if started is not None:
        started.set()
    burst: list[Json] = []
    loop = asyncio.get_running_loop()
    ends = 0.0  # when the current burst is delivered even without a pause
    try:
        while True:
            timeout = max(0.0, min(quiet, ends - loop.time())) if burst else None
            try:
                # Not asyncio.wait_for: on Python 3.11 a cancellation that arrives as the
                # line does is lost, and under a stream of events the watch (and a
                # stopping daemon waiting for it) then ran on for ever.
                async with asyncio.timeout(timeout):
                    line = await proc.stdout.readline()
            except TimeoutError:
                _deliver(on_burst, burst)
                burst = []
                continue
            if not line:
                break
            event = _parse(line)
            if event is not None and concerns_vnetd(event):
                if not burst:
                    ends = loop.time() + longest
                if len(burst) < MAX_KEPT:
                    burst.append(event)
        if burst:
            _deliver(on_burst, burst)
    finally:
        # SIGKILL at once: the monitor has nothing to save, and a daemon stopping must
        # not wait for it (it only reads events, so no change can be cut in half).
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _parse(line: bytes) -> Json | None:
    try:
        value: Any = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _deliver(on_burst: BurstCallback, burst: list[Json]) -> None:
    try:
        on_burst(burst)
    except Exception:  # a failing callback must not end the watch
        log.exception("firewall change callback failed")


def _touched_chains(events: list[Any]) -> set[str] | None:
    """Names of network chains that nft monitor events touched; None when an event hit
    something all networks share (the table, a base chain, a map), so all need a look."""
    chains: set[str] = set()
    for event in events:
        for body in event.values():
            if not isinstance(body, dict):
                continue
            for kind, obj in body.items():
                if not isinstance(obj, dict):
                    continue
                if kind == "rule":
                    chain = obj.get("chain", "")
                elif kind == "chain":
                    chain = obj.get("name", "")
                elif kind == "element":
                    targets = [v.get("jump", {}).get("target", "") for _k, v in
                               (item for item in obj.get("elem", {}).get("set", [])
                                if isinstance(item, list) and len(item) == 2)
                               if isinstance(v, dict)]
                    if not targets:
                        return None
                    chains.update(targets)
                    continue
                else:
                    return None
                if not is_network_chain(chain):
                    return None
                chains.add(chain)
    return chains


def affected_networks(events: list[Json], names: Collection[str]) -> set[str] | None:
    """Which of these networks a burst of events touched; None when an event hit what all
    networks share (the table, a base chain, a map), so that every network needs a look.
    vnetd's own start of one network touches only that network's chains, so the burst
    it causes costs one small check instead of a look at every network."""
    chains = _touched_chains(events)
    if chains is None:
        return None
    return {name for name in names if chains & set(chain_ids(name).all())}
