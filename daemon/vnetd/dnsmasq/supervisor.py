"""One supervised dnsmasq per network (the ``DhcpDnsBackend`` of ``vnetd.backends``).

dnsmasq runs in the foreground as a child of the daemon, in its own session, with its
output appended to a per-network log file: it keeps running when the daemon stops
(networks outlive the daemon) and a later daemon adopts it by PID. Each process is
watched through a pidfd in the event loop, so a death is seen at once whether or not
the process is our child; it is restarted with backoff, and after too many quick
deaths the exit callback reports that the network has no dnsmasq any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import background
from ..backends import DhcpDnsBackend, ExitCallback
from ..errors import Failed
from ..listeners import runs_dnsmasq
from ..model import NetworkDefinition
from ..paths import DEFAULT_RESOLV_CONF, Paths
from . import hints, process
from .config import (
    FULL_CAPS,
    DaemonSettings,
    DnsmasqCaps,
    DnsmasqFiles,
    render_addnhosts,
    render_config,
    render_hostsfile,
)
from .upstream import SERVERS_FILE_NAME, UpstreamServers

log = logging.getLogger(__name__)

RestartCallbackType = Callable[[str, int], None]
"""Called with (network name, new pid) after an automatic restart."""

UPSTREAM_POLL = 1.0  # seconds between looks at resolv.conf (one stat) while dnsmasq runs
READY_POLL = 0.001  # seconds between looks for the pid file of a starting dnsmasq


class DnsmasqStartError(Failed):
    """dnsmasq exited or hung before it was ready; the message carries its own words."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RestartPolicy:
    """How a dnsmasq that exits is restarted, and when vnetd gives up."""

    #: Wait before the n-th consecutive restart (the last value repeats).
    delays: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 4.0)
    #: A process that ran shorter than this died "quickly".
    quick_seconds: float = 30.0
    #: Give up after this many consecutive quick deaths.
    max_quick_deaths: int = 5


@dataclass
class _Proc:
    """A supervised dnsmasq: its pidfd and the future its exit resolves."""

    pid: int
    pidfd: int
    child: bool  # started by this daemon (we reap it) or adopted (its parent reaps it)
    started: float
    exited: asyncio.Future[int | None] = field(repr=False)
    stopping: bool = False


class DnsmasqSupervisor:
    def __init__(self, paths: Paths, *, binary: str | None = None, user: str | None = None,
                 caps: DnsmasqCaps = FULL_CAPS, policy: RestartPolicy | None = None,
                 start_timeout: float = 10.0, stop_timeout: float = 3.0,
                 resolv_conf: Path = DEFAULT_RESOLV_CONF,
                 guarded: Callable[[NetworkDefinition], bool] | None = None) -> None:
        """``guarded`` tells which networks' DNS and TFTP ports a firewall guards (see
        ``vnetd.listeners``): their dnsmasq binds with ``bind-interfaces``. Without it
        every dnsmasq checks the arrival interface itself (``bind-dynamic``)."""
        self._paths = paths
        self._guarded = guarded or (lambda definition: False)
        self._upstream = UpstreamServers(resolv_conf, paths.dnsmasq_dir / SERVERS_FILE_NAME)
        self._upstream_task: asyncio.Task[None] | None = None
        self._binary = binary
        self._user = user
        self._caps = caps
        self._policy = policy or RestartPolicy()
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._definitions: dict[str, NetworkDefinition] = {}
        self._procs: dict[str, _Proc] = {}
        self._restarts: dict[str, asyncio.Task[None]] = {}
        # Processes stop() sent SIGTERM to, until their exit is seen (see stop()).
        self._exiting: dict[str, tuple[_Proc, asyncio.Task[None]]] = {}
        self._quick_deaths: dict[str, int] = {}
        self._on_exit: ExitCallback = lambda name, status: None
        self._on_restart: RestartCallbackType = lambda name, pid: None

    # -- DhcpDnsBackend -------------------------------------------------------------

    def needed(self, definition: NetworkDefinition) -> bool:
        return runs_dnsmasq(definition)

    async def start(self, definition: NetworkDefinition) -> int:
        name = definition.name
        files = self.files(name)
        texts = self._render(definition, files)  # a refused value stops nothing
        await self._exited(name)
        await self._stop_tracked(name)
        await self._stop_stale(files)
        self._write(texts, files)
        proc = await self._spawn_retrying(name, files)
        self._definitions[name] = definition
        self._quick_deaths[name] = 0
        self._track(name, proc)
        return proc.pid

    async def stop(self, network_name: str) -> None:
        """SIGTERM the network's dnsmasq and return: it leaves its loop at once, but the
        kernel's teardown of the process takes ~8 ms more (closing its inotify instance
        waits for an SRCU grace period; strace of exit_group, dev lab), and a Destroy need
        not wait for that. A start of the same network waits for it (``_exited``), as do
        the daemon's stop and a dnsmasq that ignores SIGTERM (killed in the background)."""
        files = self.files(network_name)
        await self._cancel_restart(network_name)
        proc = self._procs.pop(network_name, None)
        if proc is not None:
            await self._exited(network_name)
            task = asyncio.ensure_future(self._terminate(proc))
            self._exiting[network_name] = (proc, task)
            task.add_done_callback(lambda done: self._forget_exit(network_name, done))
            await asyncio.sleep(0)  # the task's first step sends SIGTERM
        await self._stop_stale(files, skip=proc.pid if proc is not None else None)
        self._definitions.pop(network_name, None)
        self._quick_deaths.pop(network_name, None)
        process.remove_quietly(files.conf, files.pid, files.hostsfile, files.addnhosts)

    async def reload(self, definition: NetworkDefinition) -> None:
        name = definition.name
        proc = self._procs.get(name)
        if proc is None or proc.exited.done():
            if name in self._restarts:
                # A restart is due: it will read the files written here.
                files = self.files(name)
                self._write(self._render(definition, files), files)
                self._definitions[name] = definition
                return
            await self.start(definition)
            return
        files = self.files(name)
        # The conf is rewritten too so that an automatic restart runs the current
        # definition; a running dnsmasq only re-reads the two hosts files on SIGHUP.
        self._write(self._render(definition, files), files)
        self._definitions[name] = definition
        self._signal(proc, signal.SIGHUP)

    async def adopt(self, definition: NetworkDefinition, pid: int) -> bool:
        name = definition.name
        files = self.files(name)
        if not process.is_dnsmasq_for(pid, files.conf):
            return False
        tracked = self._procs.get(name)
        if tracked is not None and tracked.pid == pid and not tracked.exited.done():
            # Already watched (a drift repair checks a network this daemon runs): taking
            # it over again would stop the tracked process first, i.e. end the very
            # dnsmasq being adopted, and a supervised restart would follow.
            self._definitions[name] = definition
            return True
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        # The PID could have been reused between the check and pidfd_open: check again
        # now that the pidfd pins the process.
        if not process.is_dnsmasq_for(pid, files.conf):
            os.close(pidfd)
            return False
        await self._stop_tracked(name)
        loop = asyncio.get_running_loop()
        proc = _Proc(pid=pid, pidfd=pidfd, child=False, started=time.monotonic(),
                     exited=loop.create_future())
        self._watch(name, proc)
        self._definitions[name] = definition
        self._quick_deaths[name] = 0
        self._track(name, proc)
        return True

    def pid(self, network_name: str) -> int | None:
        proc = self._procs.get(network_name)
        return None if proc is None or proc.exited.done() else proc.pid

    def set_exit_callback(self, callback: ExitCallback) -> None:
        self._on_exit = callback

    # -- extras -----------------------------------------------------------------------

    def set_restart_callback(self, callback: RestartCallbackType) -> None:
        """Called with (network name, new pid) after an automatic restart."""
        self._on_restart = callback

    def files(self, network_name: str) -> DnsmasqFiles:
        return DnsmasqFiles.for_network(self._paths, network_name)

    def close(self) -> None:
        """Stop watching (daemon shutdown); the dnsmasq processes keep running, and those
        a stop() signalled end on their own."""
        if self._upstream_task is not None:
            self._upstream_task.cancel()
        for task in self._restarts.values():
            task.cancel()
        self._restarts.clear()
        exiting = [proc for proc, _task in self._exiting.values()]
        for _proc, task in self._exiting.values():
            task.cancel()
        self._exiting.clear()
        loop = asyncio.get_running_loop()
        for proc in [*self._procs.values(), *exiting]:
            if not proc.exited.done():
                loop.remove_reader(proc.pidfd)
                os.close(proc.pidfd)
                proc.exited.cancel()
        self._procs.clear()

    # -- internals --------------------------------------------------------------------

    def _settings(self) -> DaemonSettings:
        if self._user is None:
            self._user = process.default_user()
        return DaemonSettings(user=self._user, servers_file=self._upstream.servers_file)

    def _render(self, definition: NetworkDefinition, files: DnsmasqFiles) -> dict[Path, str]:
        """Every file's text, rendered before anything is touched."""
        return {
            files.hostsfile: render_hostsfile(definition),
            files.addnhosts: render_addnhosts(definition),
            files.conf: render_config(definition, files, caps=self._caps,
                                      daemon=self._settings(),
                                      guarded=self._guarded(definition)),
        }

    def _write(self, texts: dict[Path, str], files: DnsmasqFiles) -> None:
        files.conf.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        process.check_reachable(files.hostsfile, self._settings().user)
        if self._upstream.ensure():
            self._reread_upstream()
        for path, text in texts.items():
            process.write_atomic(path, text, 0o644)

    async def _spawn_retrying(self, name: str, files: DnsmasqFiles) -> _Proc:
        # dnsmasq lists the host's interfaces at start-up and gives up ("failed to find
        # list of interfaces: No such device") when one disappears meanwhile, e.g. another
        # network's bridge being deleted at that moment: a race, not a fault; try again.
        for attempt in range(3):
            try:
                return await self._spawn(name, files)
            except DnsmasqStartError as exc:
                if "list of interfaces" not in exc.message or attempt == 2:
                    raise
                log.info("dnsmasq for %s lost a race with an interface change; retrying",
                         name)
        raise AssertionError("unreachable")

    async def _spawn(self, name: str, files: DnsmasqFiles) -> _Proc:
        binary = self._binary or process.find_binary()
        process.remove_quietly(files.pid)
        offset = process.log_size(files.log)
        argv = [binary, "--keep-in-foreground", f"--conf-file={files.conf}"]
        generation = self._upstream.generation
        pid = process.spawn_detached(argv, files.log)
        loop = asyncio.get_running_loop()
        proc = _Proc(pid=pid, pidfd=os.pidfd_open(pid), child=True, started=time.monotonic(),
                     exited=loop.create_future())
        self._watch(name, proc)
        try:
            await self._wait_ready(name, proc, files, offset)
        except BaseException:
            await self._terminate(proc)
            raise
        if self._upstream.generation != generation:
            # The servers file changed while it started (the once-a-second look ran):
            # it may have read the old one, and was not there for that SIGHUP.
            self._signal(proc, signal.SIGHUP)
        return proc

    async def _wait_ready(self, name: str, proc: _Proc, files: DnsmasqFiles,
                          offset: int) -> None:
        """Ready once dnsmasq wrote its pid file: it does so after binding every DHCP
        and DNS socket, so from then on queries are queued for it, not refused."""
        deadline = time.monotonic() + self._start_timeout
        while True:
            if proc.exited.done():
                status = proc.exited.result()
                words = hints.explain(process.log_tail(files.log, offset) or "no message")
                raise DnsmasqStartError(
                    f"dnsmasq for network {name!r} failed to start "
                    f"(exit status {status}): {words}", status)
            if process.read_pid(files.pid) == proc.pid:
                return
            if time.monotonic() > deadline:
                raise DnsmasqStartError(
                    f"dnsmasq for network {name!r} was not ready after "
                    f"{self._start_timeout:g} s: {process.log_tail(files.log, offset)}", None)
            # dnsmasq is ready within ~15 ms: a look (one small read) every millisecond
            # costs ~15 wake-ups per start, where one every 2-5 ms left a start waiting up
            # to 5 ms after dnsmasq was ready (the dev lab's "dnsmasq ready" step: ~1 or
            # ~5.4 ms, depending on where a poll fell).
            await asyncio.wait({proc.exited}, timeout=READY_POLL)

    def _watch(self, name: str, proc: _Proc) -> None:
        asyncio.get_running_loop().add_reader(proc.pidfd, self._on_pidfd, name, proc)

    def _on_pidfd(self, name: str, proc: _Proc) -> None:
        asyncio.get_running_loop().remove_reader(proc.pidfd)
        os.close(proc.pidfd)
        status = process.reap(proc.pid) if proc.child else None
        if not proc.exited.done():
            proc.exited.set_result(status)
        if proc.stopping or self._procs.get(name) is not proc:
            return
        del self._procs[name]
        lived = time.monotonic() - proc.started
        log.warning("dnsmasq of network %s (pid %d) exited with status %s after %.1f s",
                    name, proc.pid, status, lived)
        self._after_death(name, status, lived)

    def _after_death(self, name: str, status: int | None, lived: float) -> None:
        definition = self._definitions.get(name)
        if definition is None:
            return
        policy = self._policy
        quick = self._quick_deaths.get(name, 0) if lived < policy.quick_seconds else 0
        quick += 1
        self._quick_deaths[name] = quick
        if quick > policy.max_quick_deaths:
            log.error("dnsmasq of network %s died %d times in a row; giving up", name,
                      quick)
            self._definitions.pop(name, None)
            self._quick_deaths.pop(name, None)
            self._on_exit(name, status)
            return
        delay = policy.delays[min(quick, len(policy.delays)) - 1]
        self._restarts[name] = asyncio.get_running_loop().create_task(
            self._restart_later(name, delay), name=f"dnsmasq-restart-{name}")

    async def _restart_later(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        files = self.files(name)
        started = time.monotonic()
        try:
            definition = self._definitions.get(name)
            if definition is not None:
                # The files are written afresh from the definition: one deleted or
                # damaged behind our back (a state-dir cleanup, an editor) would
                # otherwise make every restart fail the same way.
                self._write(self._render(definition, files), files)
            proc = await self._spawn_retrying(name, files)
        except Failed as exc:
            log.error("restarting dnsmasq of network %s failed: %s", name, exc)
            self._restarts.pop(name, None)
            status = exc.status if isinstance(exc, DnsmasqStartError) else None
            self._after_death(name, status, time.monotonic() - started)
            return
        self._restarts.pop(name, None)
        self._track(name, proc)
        log.info("restarted dnsmasq of network %s as pid %d", name, proc.pid)
        self._on_restart(name, proc.pid)

    def _track(self, name: str, proc: _Proc) -> None:
        self._procs[name] = proc
        if self._upstream_task is None or self._upstream_task.done():
            self._upstream_task = background.start(self._follow_upstream(),
                                                   "upstream DNS servers")

    async def _follow_upstream(self) -> None:
        """While a dnsmasq runs: resolv.conf's nameservers into the servers file, and
        every dnsmasq told to read it again when they change (``upstream.py``)."""
        while self._procs:
            await asyncio.sleep(UPSTREAM_POLL)
            try:
                changed = self._upstream.refresh()
            except OSError as exc:
                log.warning("cannot write %s: %s", self._upstream.servers_file, exc)
                continue
            if changed:
                self._reread_upstream()

    def _reread_upstream(self) -> None:
        # SIGHUP: dnsmasq reads its servers-file again (and its hosts files, and clears
        # its cache, which held answers from the old servers).
        for proc in self._procs.values():
            self._signal(proc, signal.SIGHUP)

    def _signal(self, proc: _Proc, signum: int) -> None:
        if proc.exited.done():
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(proc.pidfd, signum)

    async def _terminate(self, proc: _Proc) -> None:
        proc.stopping = True
        self._signal(proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.exited), self._stop_timeout)
            return
        log.warning("dnsmasq pid %d ignored SIGTERM; killing it", proc.pid)
        self._signal(proc, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.exited), self._stop_timeout)

    async def _cancel_restart(self, name: str) -> None:
        task = self._restarts.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stop_tracked(self, name: str) -> None:
        await self._cancel_restart(name)
        proc = self._procs.pop(name, None)
        if proc is not None:
            await self._terminate(proc)

    async def _exited(self, name: str) -> None:
        """Wait until the dnsmasq a stop() of this network signalled has exited."""
        pending = self._exiting.get(name)
        if pending is not None:
            await asyncio.shield(pending[1])

    def _forget_exit(self, name: str, task: asyncio.Future[None]) -> None:
        if self._exiting.get(name, (None, None))[1] is task:
            del self._exiting[name]

    async def _stop_stale(self, files: DnsmasqFiles, skip: int | None = None) -> None:
        """End a dnsmasq of this network that nobody watches (left by a crashed daemon);
        ``skip``: the one stop() is already ending."""
        pid = process.read_pid(files.pid)
        if pid is None or pid == skip or not process.is_dnsmasq_for(pid, files.conf):
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        if not process.is_dnsmasq_for(pid, files.conf):
            os.close(pidfd)
            return
        loop = asyncio.get_running_loop()
        proc = _Proc(pid=pid, pidfd=pidfd, child=False, started=time.monotonic(),
                     exited=loop.create_future(), stopping=True)
        self._watch("", proc)
        await self._terminate(proc)


def _implements_protocol(supervisor: DnsmasqSupervisor) -> DhcpDnsBackend:
    return supervisor  # mypy checks that the supervisor is a DhcpDnsBackend
