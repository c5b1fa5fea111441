"""Crash safety: the daemon is killed (SIGKILL) at every named step of define, start,
destroy and undefine, and at random moments of a start/stop loop; after a normal restart
every network is fully running or fully stopped, no temporary file is left, and no
persistent definition is lost or truncated."""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

import pytest

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology
from tests.reliability import summary
from tests.reliability.busclient import BusClient
from tests.reliability.state import (
    dnsmasq_processes,
    network_state,
    temporaries,
    verdict,
)
from vnetd.model import NetworkDefinition
from vnetd.netxml import parse_network

HOOKS = {"VNETD_TEST_HOOKS": "1"}
ARGS = ("--no-default-network",)
NAME, SUBNET, BRIDGE = "crashnet", 30, "vcrash"
XML_V1 = network_xml(NAME, SUBNET, bridge=BRIDGE)
XML_V2 = XML_V1.replace("end='10.77.30.200'", "end='10.77.30.150'")
ADDRESS = f"10.77.{SUBNET}.1"
PATH = f"/org/vnetd1/network/{NAME}"
STORE_STEPS = ("store-write-partial", "store-before-rename")


@dataclass(frozen=True)
class Case:
    op: str  # define, redefine, start, destroy, undefine, undefine-running, create
    step: str
    expect: str  # running, stopped or absent (no network at all)
    definition: str  # the persistent definition afterwards: old, new, either, absent

    @property
    def id(self) -> str:
        return f"{self.op}@{self.step}"


CASES = [
    *(Case("define", s, "absent", "absent")
      for s in ("define-before-write", *STORE_STEPS)),
    Case("define", "define-after-write", "stopped", "new"),
    *(Case("redefine", s, "stopped", "old")
      for s in ("define-before-write", *STORE_STEPS)),
    Case("redefine", "define-after-write", "stopped", "new"),
    # A start interrupted anywhere is rolled back: its status says "starting".
    *(Case("start", s, "stopped", "old")
      for s in (*STORE_STEPS, "start-after-status", "start-bridge", "start-firewall",
                "start-dnsmasq", "start-guarded", "start-done")),
    # A destroy interrupted after its status write is completed at the next start;
    # before it (the status write itself torn) the network keeps running.
    *(Case("destroy", s, "running", "old") for s in STORE_STEPS),
    *(Case("destroy", s, "stopped", "old")
      for s in ("destroy-after-status", "stop-dnsmasq", "stop-firewall", "stop-bridge")),
    Case("undefine", "undefine-before-delete", "stopped", "old"),
    Case("undefine", "undefine-after-delete", "absent", "absent"),
    Case("undefine-running", "undefine-before-delete", "running", "old"),
    # The definition is gone: the running network must come back transient.
    Case("undefine-running", "undefine-after-delete", "running", "absent"),
    *(Case("create", s, "absent", "absent")
      for s in ("start-after-status", "start-bridge", "start-firewall", "start-dnsmasq",
                "start-guarded", "start-done")),
]


def _essentials(d: NetworkDefinition) -> tuple[object, ...]:
    return (d.name, d.mode, d.bridge_name, d.ips)


def _occurrence(case: Case, running_at_restart: int) -> str:
    """Store steps could be passed at start-up too; adoption writes a status file only when
    something changed, and here nothing does, so the operation's first write is the one."""
    del running_at_restart
    if case.step in STORE_STEPS:
        return f"{case.step}@1"
    return case.step


def _prepare(daemon: Daemon, case: Case) -> int:
    """Bring the network into the state the operation starts from; return how many
    networks run when the daemon restarts with the hook."""
    api = Api(daemon)
    if case.op in ("define", "create"):
        return 0
    path = api.define(XML_V1)
    if case.op in ("destroy", "undefine-running"):
        api.net(path, "Start")
        return 1
    return 0


def _operate(daemon: Daemon, case: Case) -> None:
    op = case.op
    if op in ("define", "redefine"):
        args = ["/org/vnetd1", "org.vnetd1.Manager", "DefineXML", "s",
                XML_V2 if op == "redefine" else XML_V1]
    elif op == "create":
        args = ["/org/vnetd1", "org.vnetd1.Manager", "CreateXML", "s", XML_V1]
    else:
        member = {"start": "Start", "destroy": "Destroy"}.get(op, "Undefine")
        args = [PATH, "org.vnetd1.Network", member]
    proc = daemon.busctl("call", "org.vnetd1", *args, check=False)
    assert proc.returncode != 0, f"{case.id}: the call returned: {proc.stdout}"


def check_network(daemon: Daemon, topology: Topology, name: str, bridge: str, address: str,
                  *, nat: bool = True) -> str:
    """The network's kernel and disk state agree with itself and with the daemon."""
    state = network_state(daemon, topology.host, name, bridge)
    found = verdict(state, address=address, nat=nat)
    assert found in ("running", "stopped"), found
    api = Api(daemon)
    listed = {p.rsplit("/", 1)[1] for p in api.list()}
    if name in listed:
        active = api.prop(f"/org/vnetd1/network/{name}", "Active")
        assert active == (found == "running"), (name, active, found)
    else:
        assert found == "stopped", f"{name} runs but the daemon does not know it"
    return found


def check_no_strays(daemon: Daemon, topology: Topology, running: set[str]) -> None:
    assert temporaries(daemon) == [], temporaries(daemon)
    conf_dir = daemon.state_dir / "dnsmasq"
    procs = dnsmasq_processes(topology.host)
    owners = sorted(conf.rsplit("/", 1)[-1].removesuffix(".conf") for conf in procs.values()
                    if conf.startswith(str(conf_dir)))
    if owners != sorted(running):
        summary.leak(f"dnsmasq processes {owners} for running networks {sorted(running)}")
    assert owners == sorted(running), procs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_crash_at_step(vnetd_daemon: Daemon, topology: Topology, case: Case) -> None:
    daemon = vnetd_daemon
    daemon.start(*ARGS)
    running = _prepare(daemon, case)
    daemon.stop()
    daemon.start(*ARGS, env={**HOOKS, "VNETD_TEST_CRASH_AT": _occurrence(case, running)})
    _operate(daemon, case)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=15) == -signal.SIGKILL, daemon.log()[-3000:]
    summary.add("faults_injected")

    daemon.start(*ARGS)
    found = check_network(daemon, topology, NAME, BRIDGE, ADDRESS)
    listed = {p.rsplit("/", 1)[1] for p in Api(daemon).list()}
    outcome = found if NAME in listed else "absent"
    assert outcome == case.expect, f"{case.id}: {outcome}\n{daemon.log()[-3000:]}"
    check_no_strays(daemon, topology, {NAME} if found == "running" else set())

    stored = daemon.config_dir / "networks" / f"{NAME}.xml"
    if case.definition == "absent":
        assert not stored.exists()
    else:
        assert stored.exists(), f"{case.id}: definition lost"
        on_disk = _essentials(parse_network(stored.read_text()))
        wanted = XML_V2 if case.op == "redefine" and case.definition == "new" else XML_V1
        assert on_disk == _essentials(parse_network(wanted)), case.id
    if NAME in listed:
        persistent = Api(daemon).prop(PATH, "Persistent")
        assert persistent == stored.exists(), f"{case.id}: Persistent={persistent}"

    # What survived is usable: it starts and stops cleanly (no leftover in the way).
    api = Api(daemon)
    if outcome == "stopped":
        api.net(PATH, "Start")
        assert check_network(daemon, topology, NAME, BRIDGE, ADDRESS) == "running"
    if outcome != "absent":
        api.net(PATH, "Destroy")
    assert verdict(network_state(daemon, topology.host, NAME, BRIDGE),
                   address=ADDRESS) == "stopped"
    check_no_strays(daemon, topology, set())
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]
    summary.add("faults_survived")


def test_crash_while_writing_the_install_marker(vnetd_daemon: Daemon) -> None:
    """The first write of a fresh install is torn: no temporary file may stay behind."""
    daemon = vnetd_daemon
    daemon.start(*ARGS, wait=False, env={**HOOKS, "VNETD_TEST_CRASH_AT": "store-before-rename"})
    assert daemon.process is not None
    assert daemon.process.wait(timeout=15) == -signal.SIGKILL
    summary.add("faults_injected")
    daemon.start(*ARGS)
    assert temporaries(daemon) == []
    assert (daemon.config_dir / ".initialized").exists()
    summary.add("faults_survived")


# (name, subnet, bridge, forward mode); every one runs a dnsmasq (DNS at least).
LOOP_NETS = [("kill0", 40, "vkill0", "nat"), ("kill1", 41, "vkill1", "nat"),
             ("kill2", 42, "vkill2", "route")]


def _churn(address: str, stop: threading.Event, done: list[int]) -> None:
    """Start and destroy random networks until the daemon dies or ``stop`` is set."""
    try:
        client = BusClient(address)
    except Exception:
        return
    rng = random.Random()
    try:
        while not stop.is_set():
            name = rng.choice(LOOP_NETS)[0]
            member = rng.choice(["Start", "Destroy"])
            reply = client.net(f"/org/vnetd1/network/{name}", member)
            if reply.error and not reply.error.startswith("org.vnetd1."):
                return  # the daemon is gone
            done[0] += 1
    except Exception:
        return
    finally:
        client.close()


def test_random_kills_during_start_stop_loop(vnetd_daemon: Daemon, topology: Topology) -> None:
    daemon = vnetd_daemon
    daemon.start(*ARGS)
    api = Api(daemon)
    for name, subnet, bridge, mode in LOOP_NETS:
        api.define(network_xml(name, subnet, bridge=bridge, mode=mode, dhcp=mode == "nat"))
    originals = {n: (daemon.config_dir / "networks" / f"{n}.xml").read_text()
                 for n, *_ in LOOP_NETS}
    rng = random.Random(6)
    operations = [0]
    iterations = 30
    for _ in range(iterations):
        stop = threading.Event()
        workers = [threading.Thread(target=_churn, args=(daemon.bus.address, stop, operations))
                   for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.05, 0.8))
        daemon.kill()
        summary.add("faults_injected")
        stop.set()
        for w in workers:
            w.join(30)
        daemon.start(*ARGS)
        running = set()
        for name, subnet, bridge, mode in LOOP_NETS:
            found = check_network(daemon, topology, name, bridge, f"10.77.{subnet}.1",
                                  nat=mode == "nat")
            if found == "running":
                running.add(name)
        check_no_strays(daemon, topology, running)
        for name, text in originals.items():
            assert (daemon.config_dir / "networks" / f"{name}.xml").read_text() == text
        summary.add("faults_survived")
    summary.figure("random kills: start/stop calls answered", str(operations[0]))
    print(f"{iterations} random kills, {operations[0]} start/stop calls answered")
    assert operations[0] > iterations, "the loop did too little work to mean anything"
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]
