"""The ``vnetd`` program: options, logging, start-up order, signals, sd_notify."""

from __future__ import annotations

# First: asyncio must not load OpenSSL (see no_openssl.py).
from . import no_openssl  # noqa: F401

# isort: split
import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from . import __version__, background
from .errors import VnetdError
from .laps import Laps
from .paths import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_RESOLV_CONF,
    DEFAULT_RUN_DIR,
    DEFAULT_STATE_DIR,
    Paths,
)

log = logging.getLogger("vnetd")


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's own formatter, given the width it would find: asking it to find the
    width imports shutil (with bz2, lzma and zlib, ~1.8 ms of a daemon's start) at each
    ``add_argument``, for help text a daemon started by systemd never prints."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return argparse.HelpFormatter(prog, width=columns - 2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vnetd", description="Virtual network daemon (libvirt-compatible networks over D-Bus)",
        formatter_class=_help_formatter)
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR,
                        help="persistent definitions and autostart marks (default %(default)s)")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                        help="runtime status of running networks (default %(default)s)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="dnsmasq files and leases (default %(default)s)")
    parser.add_argument("--resolv-conf", type=Path, default=DEFAULT_RESOLV_CONF,
                        help="where the upstream DNS servers of networks that forward DNS "
                             "are read (default %(default)s)")
    parser.add_argument("--no-default-network", action="store_true",
                        help="do not define the 'default' network on a fresh install")
    parser.add_argument("--no-autostart", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--version", action="version", version=f"vnetd {__version__}")
    return parser.parse_args(argv)


def setup_logging(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    # pyroute2 logs every netlink message at debug level (and sets levels on its own
    # loggers): far too much even for debugging, so filter at the handler.
    def quiet(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith("pyroute2")

    # journald sets JOURNAL_STREAM for services whose output it collects.
    if os.environ.get("JOURNAL_STREAM"):
        try:
            from systemd.journal import JournalHandler

            journal = JournalHandler(SYSLOG_IDENTIFIER="vnetd")
            journal.addFilter(quiet)
            root.addHandler(journal)
            return
        except ImportError:
            pass
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s vnetd[%(process)d] %(levelname)s "
                                           "%(name)s: %(message)s"))
    handler.addFilter(quiet)
    root.addHandler(handler)


def notify(state: str) -> None:
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        from systemd import daemon  # type: ignore[attr-defined]
    except ImportError:
        return
    daemon.notify(state)


async def run(args: argparse.Namespace) -> int:
    laps = Laps()
    from .firewall.nft import NftFirewall

    # First: the nftables listing adoption needs runs in a thread meanwhile (read_ahead).
    firewall = NftFirewall()
    firewall.read_ahead()
    from .bus.service import BusService
    from .daemon import build_manager

    paths = Paths(config_dir=args.config_dir, run_dir=args.run_dir, state_dir=args.state_dir)
    manager, drift = build_manager(paths, firewall, resolv_conf=args.resolv_conf)
    service = BusService(manager, os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"))
    laps("imports")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await service.connect()
    laps("connect")
    await manager.startup(autostart=not args.no_autostart,
                          default_network=not args.no_default_network)
    laps("startup")
    await service.publish()
    laps("publish")
    drift.start()
    # Freed heap memory goes back to the kernel after each burst of work (memtrim.py).
    from .memtrim import install as trim_when_quiet

    trim_when_quiet()
    active = sum(1 for o in manager.networks.values() if o.active)
    notify(f"READY=1\nSTATUS={active} networks active")
    # CPU time of the whole start-up next to the wall-clock laps: what was work and
    # what was waiting (imports, the bus, the kernel).
    log.info("vnetd %s ready: %d networks, %d active (ms: %s; cpu %.0f)", __version__,
             len(manager.networks), active, laps, time.process_time() * 1000)
    disconnected = asyncio.ensure_future(service.wait_disconnected())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({disconnected, stopping}, return_when=asyncio.FIRST_COMPLETED)
    notify("STOPPING=1")
    laps = Laps(digits=2)
    if disconnected.done():
        log.error("lost the connection to the bus; exiting (networks keep running)")
        stopping.cancel()
        manager.stop_lease_events()
        await drift.stop(exiting=True)
        await manager.shutdown(exiting=True)
        return 1
    log.info("stopping; running networks keep running")
    manager.stop_lease_events()
    disconnected.cancel()
    # Calls in flight finish (and answer) first; none are taken meanwhile. The bus
    # answers the release while the watches stop: no repair starts from here on, and
    # one in flight holds its network's lock, so the quiesce waits for it too.
    released = asyncio.ensure_future(service.release_name())
    await drift.stop(exiting=True)
    laps("drift")
    await released
    await manager.quiesce()
    laps("calls")
    await manager.shutdown(exiting=True)
    laps("manager")
    service.disconnect()
    laps("bus")
    log.debug("stopped (ms: %s)", laps)
    return 0


async def _end_other_tasks() -> None:
    """Cancel what still runs, as asyncio.run does first, and wait for what may be a call
    in flight, which then rolls back; not for the background loops (``background``)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    waited = [t for t in tasks if not background.is_background(t)]
    for result in await asyncio.gather(*waited, return_exceptions=True):
        if isinstance(result, Exception):
            log.error("on the way out: %s", result)


async def run_then_exit(args: argparse.Namespace) -> NoReturn:
    """``run``, then what still runs is cancelled, and the process ends from inside
    the loop: returning to ``asyncio.Runner.run`` first would cost one more pass of
    the loop and a second run for the cancellation (~1.2 ms of a daemon stop)."""
    try:
        code = await run(args)
        await _end_other_tasks()
    except VnetdError as exc:
        log.error("%s", exc.message)
        code = 1
    _exit(code)


def _exit(code: int) -> NoReturn:
    # Without closing the loop (asyncio.run would also wait for its idle worker threads
    # and close every handle: 2-4 ms) and without the interpreter's teardown of every
    # module and object (with 100 running networks ~90 of the 120 ms from SIGTERM to
    # exit). Nothing is lost: the daemon has let go of what it held (run), calls in
    # flight were cancelled and rolled back, the kernel closes the descriptors, and the
    # networks run on without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    asyncio.Runner().run(run_then_exit(args))


if __name__ == "__main__":
    main()
