"""The lifecycle state machine of all networks, as libvirt's virNetworkObj.

A network object holds ``definition`` (what runs, or what the next start uses when
inactive), ``pending`` (a definition set by a define while the network runs, used at the
next start), ``active``, ``persistent`` and ``autostart``. Each network has its own lock,
so slow work on one network (a dnsmasq start) never holds up another; a short global lock
guards only name, UUID and bridge-name bookkeeping.

Crash safety: before a start or stop touches the kernel, the runtime status is written
with phase ``starting``/``stopping``; after a crash the next daemon rolls a start back and
completes a stop, so a network is always either fully running or fully stopped.

This module knows nothing about D-Bus: the bus layer listens through ``ManagerListener``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

from . import defaults, support
from .codec import format_network, parse_network
from .dnsmasq.leases import DhcpLease
from .errors import AlreadyExists, Conflict, Failed, InvalidArgument, InvalidState, NotFound
from .laps import Laps
from .leasewatch import LeaseWatcher
from .model import NetworkDefinition
from .runner import NetworkRunner, RuntimeFacts
from .store import RuntimeStatus, Store, atomic_write
from .testhooks import checkpoint
from .threads import in_daemon_thread

if TYPE_CHECKING:
    from . import update as net_update

log = logging.getLogger(__name__)

T = TypeVar("T")


class Event(enum.IntEnum):
    """libvirt's virNetworkEventLifecycleType numbers."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3


class ListFlags(enum.IntFlag):
    """libvirt's virConnectListAllNetworksFlags."""

    ACTIVE = 1
    INACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    AUTOSTART = 16
    NO_AUTOSTART = 32


# (flag for "yes", flag for "no", NetworkObject attribute), as plain ints.
_LIST_FILTERS = (
    (int(ListFlags.ACTIVE), int(ListFlags.INACTIVE), "active"),
    (int(ListFlags.PERSISTENT), int(ListFlags.TRANSIENT), "persistent"),
    (int(ListFlags.AUTOSTART), int(ListFlags.NO_AUTOSTART), "autostart"),
)


def _by_name(obj: NetworkObject) -> str:
    return obj.definition.name


DEFAULT_NETWORK_XML = """<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""


@dataclass(eq=False)
class NetworkObject:
    """A network the daemon knows: its definitions, state and lock."""

    definition: NetworkDefinition
    persistent: bool
    autostart: bool = False
    active: bool = False
    pending: NetworkDefinition | None = None
    facts: RuntimeFacts | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    removed: bool = False  # set once the object is gone, for callers holding a reference
    problems: tuple[str, ...] = ()  # what is wrong with a running network right now
    # GetXMLDesc's last answer and the (immutable) definition it formats: valid while
    # that definition is the one asked for, so any change invalidates it by identity.
    formatted: tuple[NetworkDefinition, str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def uuid(self) -> str:
        return self.definition.uuid or ""

    @property
    def next_definition(self) -> NetworkDefinition:
        return self.pending or self.definition


MAX_LEASE_WAIT = 3600  # seconds

UPDATE_AFFECT_LIVE = 1
UPDATE_AFFECT_CONFIG = 2


def _update_targets(obj: NetworkObject, flags: int) -> tuple[bool, bool]:
    """(live, config) as libvirt's VIR_NETWORK_UPDATE_AFFECT_* flags decide them."""
    if flags & ~(UPDATE_AFFECT_LIVE | UPDATE_AFFECT_CONFIG):
        raise InvalidArgument(f"unknown net-update flags {flags:#x}")
    live = bool(flags & UPDATE_AFFECT_LIVE)
    config = bool(flags & UPDATE_AFFECT_CONFIG)
    if not live and not config:  # "current": what the network is now
        live, config = obj.active, not obj.active
    if live and not obj.active:
        raise InvalidState(f"network '{obj.name}' is not active: cannot update it live")
    if config and not obj.persistent:
        raise InvalidState(f"network '{obj.name}' is transient: it has no persistent "
                           "configuration to update")
    return live, config


class ManagerListener(Protocol):
    def network_repaired(self, obj: NetworkObject, parts: tuple[str, ...]) -> None: ...
    def lease_changed(self, obj: NetworkObject, action: str, lease: DhcpLease) -> None: ...
    def network_added(self, obj: NetworkObject) -> None: ...
    def network_removed(self, obj: NetworkObject) -> None: ...
    def network_event(self, obj: NetworkObject, event: Event, detail: int) -> None: ...
    def properties_changed(self, obj: NetworkObject, names: tuple[str, ...]) -> None: ...


class Manager:
    def __init__(self, store: Store, runner: NetworkRunner) -> None:
        self.store = store
        self.runner = runner
        self.networks: dict[str, NetworkObject] = {}
        self.listeners: list[ManagerListener] = []
        # Called after every start (drift repair starts its watches with the first one).
        self.start_hooks: list[Callable[[NetworkObject], None]] = []
        self._names_lock = asyncio.Lock()
        self.lease_watcher = LeaseWatcher(store.paths.dnsmasq_dir, self._lease_changed)
        self._lease_waiters: dict[tuple[str, str], list[asyncio.Future[DhcpLease]]] = {}
        runner.dnsmasq.set_exit_callback(self._dnsmasq_gave_up)
        runner.dnsmasq.set_restart_callback(self._dnsmasq_restarted)

    # -- notifications ----------------------------------------------------------------

    def _added(self, obj: NetworkObject) -> None:
        for listener in self.listeners:
            listener.network_added(obj)

    def _removed(self, obj: NetworkObject) -> None:
        obj.removed = True
        for listener in self.listeners:
            listener.network_removed(obj)

    def _event(self, obj: NetworkObject, event: Event, detail: int = 0) -> None:
        log.info("network %s: %s", obj.name, event.name.lower())
        for listener in self.listeners:
            listener.network_event(obj, event, detail)
        if event is Event.STARTED:
            for hook in self.start_hooks:
                hook(obj)

    def _changed(self, obj: NetworkObject, *names: str) -> None:
        for listener in self.listeners:
            listener.properties_changed(obj, names)

    # -- lookups ----------------------------------------------------------------------

    def get(self, name: str) -> NetworkObject:
        obj = self.networks.get(name)
        if obj is None:
            raise NotFound(f"no network with matching name '{name}'")
        return obj

    def lookup_uuid(self, uuid: str) -> NetworkObject:
        wanted = uuid.strip().lower()
        for obj in self.networks.values():
            if obj.uuid.lower() == wanted:
                return obj
        raise NotFound(f"no network with matching uuid '{uuid}'")

    def list_networks(self, flags: int = 0) -> list[NetworkObject]:
        # Plain ints, not ListFlags: IntFlag's & and | build enum members, which made this
        # loop 40% of a ListNetworks call with 100 networks (py-spy, 1 kHz).
        tests = [(flags & yes, flags & no, attr) for yes, no, attr in _LIST_FILTERS
                 if flags & (yes | no)]
        ordered = sorted(self.networks.values(), key=_by_name)
        if not tests:
            return ordered
        return [obj for obj in ordered
                if all((yes and getattr(obj, attr)) or (no and not getattr(obj, attr))
                       for yes, no, attr in tests)]

    def xml(self, obj: NetworkObject, inactive: bool = False) -> str:
        definition = obj.next_definition if inactive else obj.definition
        cached = obj.formatted
        if cached is not None and cached[0] is definition:
            return cached[1]
        text = format_network(definition)
        obj.formatted = (definition, text)
        return text

    # -- definitions ------------------------------------------------------------------

    async def _prepare(self, definition: NetworkDefinition,
                       existing: NetworkObject | None) -> NetworkDefinition:
        """Check uniqueness and fill defaults; caller holds the names lock."""
        same_uuid = None
        if definition.uuid is not None:
            for other in self.networks.values():
                if other.uuid.lower() == definition.uuid.lower():
                    same_uuid = other
        if existing is not None:
            if definition.uuid is not None and definition.uuid.lower() != existing.uuid.lower():
                raise AlreadyExists(f"network '{definition.name}' is already defined with "
                                    f"uuid {existing.uuid}")
            # A redefinition keeps generated values the user did not restate.
            old = existing.next_definition
            definition = replace(definition, uuid=existing.uuid)
            if definition.mac is None and old.mac is not None:
                definition = replace(definition, mac=old.mac)
            if (definition.bridge is None or definition.bridge.name is None) and \
                    old.bridge_name is not None:
                bridge = definition.bridge or old.bridge
                assert bridge is not None
                definition = replace(definition, bridge=replace(bridge, name=old.bridge_name))
        elif same_uuid is not None:
            raise AlreadyExists(f"network '{same_uuid.name}' already exists with uuid "
                                f"{same_uuid.uuid}")
        taken: set[str] = set()
        if defaults.owns_bridge(definition) and definition.bridge_name is None:
            # Only a name to pick needs the host's interface list: a netlink dump that
            # was a fifth of DefineXML's time with 40 networks (py-spy, dev lab).
            taken = await self._taken_bridge_names(exclude=definition.name)
        definition = defaults.apply_defaults(definition, taken_bridge_names=taken)
        bridge_name = definition.bridge_name
        if bridge_name is not None:
            for other in self.networks.values():
                if other.name != definition.name and bridge_name in {
                        other.definition.bridge_name, other.next_definition.bridge_name}:
                    raise Conflict(f"bridge name '{bridge_name}' already in use by network "
                                   f"'{other.name}'")
        return definition

    async def _taken_bridge_names(self, exclude: str) -> set[str]:
        taken = set(await self.runner.bridge.interface_names())
        for other in self.networks.values():
            if other.name == exclude:
                # Our own running bridge is not "taken" from our point of view.
                taken.discard(other.definition.bridge_name or "")
                continue
            for d in (other.definition, other.next_definition):
                if d.bridge_name:
                    taken.add(d.bridge_name)
        return taken

    async def define(self, xml: str) -> NetworkObject:
        async with self._names_lock:
            parsed = parse_network(xml)
            name = parsed.name
            existing = self.networks.get(name)
            definition = await self._prepare(parsed, existing)
        obj = existing
        if obj is None:
            checkpoint("define-before-write")
            self.store.save_definition(definition)
            checkpoint("define-after-write")
            obj = NetworkObject(definition=definition, persistent=True)
            self.networks[name] = obj
            self._added(obj)
            self._event(obj, Event.DEFINED, 0)
            return obj
        async with obj.lock:
            if obj.removed:
                raise NotFound(f"network '{name}' was removed while being defined")
            checkpoint("define-before-write")
            self.store.save_definition(definition)
            checkpoint("define-after-write")
            was_persistent = obj.persistent
            if obj.active:
                obj.pending = definition
            else:
                obj.definition = definition
                obj.pending = None
            obj.persistent = True
            if obj.active:
                self._save_status(obj, "running")
            if not was_persistent:
                self._changed(obj, "Persistent")
            self._changed(obj, "BridgeName", "ForwardMode")
            self._event(obj, Event.DEFINED, 1)
        return obj

    async def undefine(self, obj: NetworkObject) -> None:
        async with obj.lock:
            self._check_present(obj)
            if not obj.persistent:
                raise InvalidState(f"network '{obj.name}' is not persistent")
            checkpoint("undefine-before-delete")
            self.store.delete_definition(obj.name)
            checkpoint("undefine-after-delete")
            self._event(obj, Event.UNDEFINED, 0)
            if obj.active:
                obj.persistent = False
                obj.pending = None
                was_autostart = obj.autostart
                obj.autostart = False
                self._save_status(obj, "running")
                self._changed(obj, "Persistent", *(("Autostart",) if was_autostart else ()))
            else:
                del self.networks[obj.name]
                self._removed(obj)

    async def create(self, xml: str) -> NetworkObject:
        async with self._names_lock:
            parsed = parse_network(xml)
            name = parsed.name
            if name in self.networks:
                raise AlreadyExists(f"network '{name}' already exists")
            definition = await self._prepare(parsed, None)
            obj = NetworkObject(definition=definition, persistent=False)
            # Reserve the name while starting so a concurrent define or create is refused.
            self.networks[name] = obj
        async with obj.lock:
            try:
                await self._start_locked(obj)
            except BaseException:
                del self.networks[name]
                obj.removed = True
                raise
        self._added(obj)
        self._event(obj, Event.STARTED, 0)
        return obj

    # -- running ----------------------------------------------------------------------

    def _check_present(self, obj: NetworkObject) -> None:
        if obj.removed:
            raise NotFound(f"network '{obj.name}' no longer exists")

    def _save_status(self, obj: NetworkObject, phase: str) -> None:
        facts = obj.facts
        self.store.save_status(obj.name, RuntimeStatus(
            definition=obj.definition, persistent=obj.persistent,
            bridge_ifindex=facts.bridge_ifindex if facts else None,
            dnsmasq_pid=facts.dnsmasq_pid if facts else None,
            started_at=facts.started_at if facts else 0.0, phase=phase))

    async def _start_locked(self, obj: NetworkObject) -> None:
        if obj.active:
            raise InvalidState(f"network '{obj.name}' is already active")
        definition = obj.next_definition
        support.check_startable(definition)
        previous = obj.definition
        obj.definition = definition
        try:
            self._save_status(obj, "starting")
            checkpoint("start-after-status")
            obj.facts = await self.runner.start(definition)
        except BaseException:
            obj.definition = previous
            obj.facts = None
            try:
                self.store.delete_status(obj.name)
            except Failed:
                log.exception("cannot remove status of %s", obj.name)
            raise
        self._save_status(obj, "running")
        obj.pending = None
        obj.active = True
        self.lease_watcher.track(obj.name)

    async def start(self, obj: NetworkObject) -> None:
        async with obj.lock:
            self._check_present(obj)
            await self._start_locked(obj)
            self._changed(obj, "Active", "BridgeName", "ForwardMode")
            self._event(obj, Event.STARTED, 0)

    async def destroy(self, obj: NetworkObject) -> None:
        async with obj.lock:
            self._check_present(obj)
            if not obj.active:
                raise InvalidState(f"network '{obj.name}' is not active")
            self._save_status(obj, "stopping")
            checkpoint("destroy-after-status")
            try:
                await self.runner.stop(obj.definition)
            finally:
                # Whatever could not be removed is reported; the network is stopped either
                # way, and leftovers are cleared again at the next daemon start.
                self.store.delete_status(obj.name)
                self.lease_watcher.forget(obj.name)
                had_problems = bool(obj.problems)
                obj.active = False
                obj.facts = None
                obj.problems = ()
                if obj.pending is not None:
                    obj.definition = obj.pending
                    obj.pending = None
                self._event(obj, Event.STOPPED, 0)
                if obj.persistent:
                    self._changed(obj, "Active", "BridgeName", "ForwardMode",
                                  *(("Problems",) if had_problems else ()))
                else:
                    del self.networks[obj.name]
                    self._removed(obj)

    async def set_autostart(self, obj: NetworkObject, enabled: bool) -> None:
        async with obj.lock:
            self._check_present(obj)
            if not obj.persistent:
                raise InvalidState(f"cannot set autostart for transient network '{obj.name}'")
            if obj.autostart == enabled:
                return
            self.store.set_autostart(obj.name, enabled)
            obj.autostart = enabled
            self._changed(obj, "Autostart")

    async def update(self, obj: NetworkObject, command: int, section: int, parent_index: int,
                     xml: str, flags: int) -> None:
        """libvirt's net-update: edit one section of the live and/or persistent definition.

        Both new definitions are computed (and validated) before anything changes; a live
        change touches only what the section needs: hosts files and SIGHUP for host
        entries (no restart, leases kept), a dnsmasq restart for conf changes, an atomic
        rule replacement for firewall-relevant sections."""
        # Imported here: net-update is rare, and every daemon start paid ~5 ms for it.
        from . import update as net_update

        async with obj.lock:
            self._check_present(obj)
            live, config = _update_targets(obj, flags)
            new_config = new_live = None
            effect = net_update.UpdateEffect()
            if config:
                new_config = net_update.apply_update(obj.next_definition, command, section,
                                                 parent_index, xml)
            if live:
                new_live, effect = net_update.plan_update(obj.definition, command, section,
                                                      parent_index, xml)
            persistent_before = obj.next_definition
            if new_live is not None:
                await self._apply_live(obj, new_live, effect)
                if obj.persistent and new_config is None:
                    # A live-only change leaves the persistent configuration as it was.
                    obj.pending = (None if persistent_before == obj.definition
                                   else persistent_before)
            if new_config is not None:
                self.store.save_definition(new_config)
                if obj.active:
                    obj.pending = None if new_config == obj.definition else new_config
                else:
                    obj.definition = new_config
            if obj.active:
                self._save_status(obj, "running")
            log.info("network %s: updated section %d (live=%s, config=%s)", obj.name,
                     section, live, config)

    async def _apply_live(self, obj: NetworkObject, new: NetworkDefinition,
                          effect: net_update.UpdateEffect) -> None:
        old = obj.definition
        runner = self.runner
        try:
            if effect.firewall:
                runner.firewall.apply(new)
            pid = obj.facts.dnsmasq_pid if obj.facts else None
            if not runner.dnsmasq.needed(new):
                await runner.dnsmasq.stop(obj.name)
                pid = None
            elif effect.dnsmasq_restart or pid is None:
                runner.firewall.guard(new)  # before dnsmasq binds (vnetd.listeners)
                pid = await runner.dnsmasq.start(new)
            elif effect.hosts_only:
                await runner.dnsmasq.reload(new)
        except BaseException:
            log.error("network %s: live update failed, restoring the previous state", obj.name)
            try:
                runner.firewall.apply(old)
                if runner.dnsmasq.needed(old):
                    await runner.dnsmasq.start(old)
            except Exception:
                log.exception("network %s: restoring after a failed update failed", obj.name)
            raise
        obj.definition = new
        if obj.facts is not None:
            obj.facts = replace(obj.facts, dnsmasq_pid=pid)
        if pid is not None:
            self.set_problems(obj, tuple(p for p in obj.problems if not p.startswith("dnsmasq")))

    async def run_locked(self, obj: NetworkObject,
                         work: Callable[[NetworkObject], Awaitable[T]]) -> T:
        """Run ``work`` under the network's lock (for updates and repairs)."""
        async with obj.lock:
            self._check_present(obj)
            return await work(obj)

    # -- daemon start -----------------------------------------------------------------

    async def startup(self, *, autostart: bool = True, default_network: bool = True) -> None:
        """Load state, adopt what runs, clear leftovers, autostart.

        The kernel is read once for all networks: one nftables listing (in a worker
        thread, while the files are read and the bridges dumped) and one link and address
        dump; then the networks are adopted concurrently. With 100 running networks, one
        network after the other with per-network reads took 1.5 s."""
        lap = Laps()
        self.store.prepare()
        self.lease_watcher.start()
        stored = self.store.load_definitions()
        statuses = self.store.load_statuses()  # after: it reuses the parsed definitions
        lap("load")
        running = [st.definition for st in statuses.values() if st.phase == "running"]
        firewall = in_daemon_thread(self.runner.firewall.verify_installed, running)
        try:
            for item in stored:
                obj = NetworkObject(definition=item.definition, persistent=True,
                                    autostart=item.autostart)
                self.networks[obj.name] = obj
            survey = await self.runner.bridge.adopt_many(running) if running else None
            lap("bridges")
        finally:
            intact, installed = await firewall
            lap("firewall wait")
        outcomes = await asyncio.gather(*(
            self._adopt(name, status, intact.get(name),
                        survey.intact.get(name) if survey else None)
            for name, status in statuses.items()))
        lap("adopt")
        interfaces = survey.interfaces if survey else None
        if not all(outcomes):
            # Something was stopped: what was read before may list it.
            installed = self.runner.firewall.installed_networks()
            interfaces = None
        await self._clear_leftovers(installed, interfaces)
        lap("leftovers")
        log.debug("start-up (ms): %s", lap)
        # Like libvirt's package, only a fresh install gets "default": once the admin has
        # removed it, it stays removed.
        marker = self.store.paths.config_dir / ".initialized"
        if not marker.exists():
            if default_network and not stored and not statuses and not self.networks:
                await self._define_default()
            atomic_write(marker, "vnetd has run here; the default network is not redefined\n")
        # Listeners (the bus) attach after startup and export what exists then.
        if autostart:
            await self.autostart_all()

    async def _adopt(self, name: str, status: RuntimeStatus,
                     firewall_intact: bool | None = None,
                     bridge_ifindex: int | None = None) -> bool:
        """Adopt one network; False when it had to be stopped instead (an interrupted
        start or stop, or adoption failed)."""
        obj = self.networks.get(name)
        if status.phase != "running":
            log.warning("network %s: completing interrupted %s", name,
                        "start (rolling back)" if status.phase == "starting" else "stop")
            try:
                await self.runner.stop(status.definition)
            except Failed as exc:
                log.error("network %s: cleanup failed: %s", name, exc.message)
            self.store.delete_status(name)
            return False
        if obj is None:
            obj = NetworkObject(definition=status.definition, persistent=False)
            self.networks[name] = obj
        elif status.definition != obj.definition:
            obj.pending = obj.definition
            obj.definition = status.definition
        facts = RuntimeFacts(status.bridge_ifindex, status.dnsmasq_pid, status.started_at)
        try:
            obj.facts = await self.runner.adopt(status.definition, facts, firewall_intact,
                                                bridge_ifindex)
        except Exception as exc:
            message = exc.message if isinstance(exc, Failed | InvalidArgument) else str(exc)
            log.error("network %s: cannot adopt, stopping it: %s", name, message)
            try:
                await self.runner.stop(status.definition)
            except Exception:
                log.exception("network %s: stop after failed adoption failed", name)
            self.store.delete_status(name)
            if obj.pending is not None:
                obj.definition, obj.pending = obj.pending, None
            if not obj.persistent:
                del self.networks[name]
            return False
        obj.active = True
        # Persistent only with a definition on disk: a crash between an undefine's delete
        # and its status update leaves ``status.persistent`` stale.
        adopted = obj.facts
        if (adopted.bridge_ifindex, adopted.dnsmasq_pid, obj.persistent) != (
                status.bridge_ifindex, status.dnsmasq_pid, status.persistent):
            self._save_status(obj, "running")  # an fsync each: only when something changed
        self.lease_watcher.track(name)
        return True

    async def _clear_leftovers(self, installed: set[str],
                               interfaces: frozenset[str] | None) -> None:
        """Remove what inactive or unknown networks left in the kernel; ``installed`` and
        ``interfaces`` are what the kernel had (None: read the interfaces now)."""
        await self.runner.bridge.clear_set_aside(interfaces)
        active = {n for n, o in self.networks.items() if o.active}
        for name in sorted(installed - active):
            log.warning("removing leftover firewall rules of network %s", name)
            self.runner.firewall.remove(name)
        inactive = [o for o in self.networks.values() if not o.active]
        if interfaces is None and any(o.definition.bridge_name for o in inactive):
            interfaces = frozenset(await self.runner.bridge.interface_names())
        for obj in inactive:
            bridge = obj.definition.bridge_name
            pidfile = self.store.paths.dnsmasq_file(obj.name, "pid")
            if (bridge and interfaces and bridge in interfaces) or pidfile.exists():
                log.warning("removing leftovers of inactive network %s", obj.name)
                try:
                    await self.runner.stop(obj.definition)
                except Failed as exc:
                    log.error("leftovers of %s: %s", obj.name, exc.message)

    async def _define_default(self) -> None:
        try:
            obj = await self.define(DEFAULT_NETWORK_XML)
        except (InvalidArgument, Conflict, Failed) as exc:
            log.error("cannot define the default network: %s", exc.message)
            return
        await self.set_autostart(obj, True)

    async def quiesce(self) -> None:
        """Wait until no operation runs (daemon stop): every call and repair in flight
        holds the names lock or its network's lock, so it finishes first, with its
        answer, and leaves its network whole."""
        for lock in [self._names_lock, *(o.lock for o in list(self.networks.values()))]:
            if lock.locked():
                async with lock:
                    pass

    def stop_lease_events(self) -> None:
        """First step of a daemon stop: the kernel frees the lease watch while the rest
        of the stop runs (``LeaseWatcher.unwatch``)."""
        self.lease_watcher.unwatch()

    async def shutdown(self, *, exiting: bool = False) -> None:
        """Let go of kernel handles; running networks and their dnsmasq keep running.
        ``exiting``: the process ends right after (``NetworkRunner.close``), and the
        kernel closes the lease watch's descriptor at exit. Closed here, 1.5 ms after
        ``stop_lease_events`` removed the watch, the close waited 13-15 ms in two of
        four daemon stops (dev lab, 100 networks): for the grace period that frees the
        watch, which the descriptor's release waits for if it has not yet run out."""
        await self.runner.close(exiting=exiting)
        if not exiting:
            self.lease_watcher.stop()  # last: see stop_lease_events

    def save_running_status(self, obj: NetworkObject) -> None:
        self._save_status(obj, "running")

    def notify_repaired(self, obj: NetworkObject, parts: tuple[str, ...]) -> None:
        for listener in self.listeners:
            listener.network_repaired(obj, parts)

    # -- supervision ------------------------------------------------------------------

    def set_problems(self, obj: NetworkObject, problems: tuple[str, ...]) -> None:
        if problems != obj.problems:
            obj.problems = problems
            self._changed(obj, "Problems")

    def _dnsmasq_restarted(self, network: str, pid: int) -> None:
        obj = self.networks.get(network)
        if obj is None or not obj.active or obj.facts is None:
            return
        log.warning("network %s: dnsmasq died and was restarted (pid %d)", network, pid)
        obj.facts = replace(obj.facts, dnsmasq_pid=pid)
        self._save_status(obj, "running")
        self.set_problems(obj, tuple(p for p in obj.problems if not p.startswith("dnsmasq")))

    def _dnsmasq_gave_up(self, network: str, status: int | None) -> None:
        obj = self.networks.get(network)
        if obj is None or not obj.active:
            return
        message = (f"dnsmasq keeps dying (last exit status {status}); DHCP and DNS are down "
                   f"until the network is restarted")
        log.error("network %s: %s", network, message)
        if obj.facts is not None:
            obj.facts = replace(obj.facts, dnsmasq_pid=None)
            self._save_status(obj, "running")
        self.set_problems(obj, (*obj.problems, f"dnsmasq: {message}"))

    # -- leases -----------------------------------------------------------------------

    def _lease_changed(self, network: str, action: str, lease: DhcpLease) -> None:
        obj = self.networks.get(network)
        if obj is None:
            return
        log.info("network %s: lease %s %s %s", network, action, lease.ip, lease.mac or "")
        if action != "removed" and lease.mac:
            for future in self._lease_waiters.pop((network, lease.mac.lower()), []):
                if not future.done():
                    future.set_result(lease)
        for listener in self.listeners:
            listener.lease_changed(obj, action, lease)

    def leases(self, obj: NetworkObject, mac: str = "") -> list[DhcpLease]:
        if not obj.active:
            return []
        wanted = mac.lower()
        found = [lease for lease in self.lease_watcher.leases(obj.name)
                 if not wanted or (lease.mac or "").lower() == wanted]
        return sorted(found, key=lambda x: (x.mac or "", x.iaid or 0, str(x.ip)))

    async def wait_for_lease(self, obj: NetworkObject, mac: str, timeout: float) -> DhcpLease:
        """Return the guest's lease as soon as it has one (at once if it already has)."""
        if not 0 < timeout <= MAX_LEASE_WAIT:
            # Any user may wait; an unbounded wait would let callers pile up waiters.
            raise InvalidArgument(f"timeout must be between 1 ms and {MAX_LEASE_WAIT} s")
        mac = mac.lower()
        current = [x for x in self.leases(obj, mac) if x.protocol == "ipv4"]
        if current:
            return current[0]
        if not obj.active:
            raise InvalidState(f"network '{obj.name}' is not active")
        future: asyncio.Future[DhcpLease] = asyncio.get_running_loop().create_future()
        waiters = self._lease_waiters.setdefault((obj.name, mac), [])
        waiters.append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise Failed(f"no lease for {mac} on network '{obj.name}' within "
                         f"{timeout:g} s") from None
        finally:
            if future in waiters:
                waiters.remove(future)

    async def autostart_all(self) -> None:
        pending = [o for o in self.networks.values()
                   if o.persistent and o.autostart and not o.active]

        async def one(obj: NetworkObject) -> None:
            try:
                await self.start(obj)
            except Exception as exc:
                message = getattr(exc, "message", str(exc))
                log.error("autostart of network %s failed: %s", obj.name, message)

        await asyncio.gather(*(one(o) for o in pending))
