"""Load: 20 concurrent clients drive 50 networks at random; afterwards the kernel matches
exactly what the daemon reports, nothing deadlocked, and 500 start/stop cycles do not
make the daemon grow."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology
from tests.reliability import summary
from tests.reliability.busclient import BusClient, Reply, call, manager_call, network_call
from tests.reliability.state import (
    daemon_pid,
    dnsmasq_processes,
    guard_members,
    links,
    network_state,
    rss_kib,
    table_chains,
    verdict,
)
from vnetd.firewall.rules import chain_ids, is_network_chain

CLIENTS = 20
NETWORKS = 50
DURATION = 30.0
CALL_TIMEOUT = 30.0  # far above any honest answer: hitting it means a deadlock
# Refusals that random concurrent operations are bound to meet.
EXPECTED = {"org.vnetd1.Error.InvalidState", "org.vnetd1.Error.NotFound",
            "org.freedesktop.DBus.Error.UnknownObject",
            "org.freedesktop.DBus.Error.UnknownMethod"}


def load_xml(n: int) -> str:
    return (f"<network><name>ld{n}</name><forward mode='nat'/><bridge name='vl{n}'/>"
            f"<ip address='10.88.{n}.1' netmask='255.255.255.0'><dhcp>"
            f"<range start='10.88.{n}.10' end='10.88.{n}.50'/></dhcp></ip></network>")


def path_of(n: int) -> str:
    return f"/org/vnetd1/network/ld{n}"


async def _client(address: str, seed: int, deadline: float, outcomes: Counter[str],
                  slowest: list[float]) -> None:
    bus = await MessageBus(bus_address=address).connect()
    rng = random.Random(seed)
    try:
        while time.monotonic() < deadline:
            n = rng.randint(1, NETWORKS)
            op = rng.choices(["define", "start", "destroy", "undefine", "read"],
                             weights=[3, 4, 3, 2, 2])[0]
            if op == "define":
                msg = manager_call("DefineXML", "s", [load_xml(n)])
            elif op == "read":
                msg = manager_call("ListNetworks", "u", [rng.choice([0, 1, 2])])
            else:
                msg = network_call(path_of(n), op.capitalize())
            began = time.monotonic()
            try:
                reply = await call(bus, msg, CALL_TIMEOUT)
            except TimeoutError:
                outcomes[f"{op}: TIMEOUT"] += 1
                continue
            slowest[0] = max(slowest[0], time.monotonic() - began)
            outcomes[f"{op}: {reply.error or 'ok'}"] += 1
    finally:
        bus.disconnect()


async def _storm(address: str) -> tuple[Counter[str], float]:
    outcomes: Counter[str] = Counter()
    slowest = [0.0]
    deadline = time.monotonic() + DURATION
    await asyncio.gather(*(_client(address, seed, deadline, outcomes, slowest)
                           for seed in range(CLIENTS)))
    return outcomes, slowest[0]


def test_concurrent_clients_leave_kernel_matching_daemon(vnetd_daemon: Daemon,
                                                         topology: Topology) -> None:
    daemon = vnetd_daemon
    daemon.start("--no-default-network")
    outcomes, slowest = asyncio.run(_storm(daemon.bus.address))
    total = sum(outcomes.values())
    summary.add("load_operations", total)
    summary.figure("load: clients x networks x seconds", f"{CLIENTS} x {NETWORKS} x {DURATION:g}")
    summary.figure("load: slowest call", f"{slowest:.3f} s")
    print(f"{total} operations in {DURATION:g} s by {CLIENTS} clients; slowest {slowest:.3f} s")
    for key, count in sorted(outcomes.items()):
        print(f"  {key}: {count}")
    unexpected = {k: v for k, v in outcomes.items()
                  if not k.endswith(": ok") and k.split(": ", 1)[1] not in EXPECTED}
    failures = [line for line in daemon.log().splitlines()
                if " ERROR " in line or "failed" in line.lower()]
    assert not unexpected, (unexpected, failures[-20:])
    assert sum(v for k, v in outcomes.items() if k.startswith("start: ok")) > 10, outcomes
    # Nobody but vnetd touched the kernel: any drift it saw, or any dnsmasq it lost, was
    # its own operations seen half done (a check during another start or stop).
    log = daemon.log()
    false_drift = [line for line in log.splitlines()
                   if " drifted: " in line or "repaired" in line or "dnsmasq died" in line]
    assert not false_drift, false_drift[:10]

    client = BusClient(daemon.bus.address)
    try:
        began = time.monotonic()
        listed = client.call(manager_call("ListNetworks", "u", [0]))
        answer = time.monotonic() - began
        summary.figure("load: first call after the storm", f"{answer:.3f} s")
        assert listed.error is None and answer < 2.0, (listed, answer)
        active_paths = set(client.call(manager_call("ListNetworks", "u", [1])).body[0])
        reported: dict[int, bool] = {}
        for path in listed.body[0]:
            n = int(path.rsplit("ld", 1)[1])
            prop = client.call(_get(path, "Active"))
            assert prop.error is None, prop
            reported[n] = bool(prop.body[0].value)
            assert reported[n] == (path in active_paths), path
        _check_kernel_matches(daemon, topology, reported)
    finally:
        client.close()


def _get(path: str, name: str) -> Message:
    return Message(destination="org.vnetd1", path=path,
                   interface="org.freedesktop.DBus.Properties", member="Get", signature="ss",
                   body=["org.vnetd1.Network", name])


def _check_kernel_matches(daemon: Daemon, topology: Topology, reported: dict[int, bool],
                          settle: float = 3.0) -> None:
    """The kernel holds exactly what the daemon reports. The check is repeated for
    ``settle`` seconds before a mismatch counts (a real leak does not go away): the
    dnsmasq deaths that once needed it were vnetd's own drift repair ending the process
    it adopted, fixed since and now asserted absent by the caller."""
    began = time.monotonic()
    while True:
        mismatches = _kernel_mismatches(daemon, topology, reported)
        if not mismatches or time.monotonic() - began > settle:
            break
        time.sleep(0.25)
    summary.figure("load: kernel matched the daemon after",
                   f"{time.monotonic() - began:.2f} s")
    for item in mismatches:
        summary.leak(item)
    active = sum(1 for on in reported.values() if on)
    print(f"after the storm: {active} running, {len(reported)} defined")
    assert not mismatches, "\n".join(mismatches)


def _kernel_mismatches(daemon: Daemon, topology: Topology,
                       reported: dict[int, bool]) -> list[str]:
    host = topology.host
    link_map = links(host)
    chains = table_chains(host)
    members = guard_members(host)
    mismatches = []
    for n in range(1, NETWORKS + 1):
        state = network_state(daemon, host, f"ld{n}", f"vl{n}", chains=chains,
                              link_map=link_map, members=members)
        found = verdict(state, address=f"10.88.{n}.1")
        wanted = "running" if reported.get(n) else "stopped"
        if found != wanted:
            mismatches.append(f"ld{n}: daemon says {wanted}, kernel {found}")
    active = {f"ld{n}" for n, on in reported.items() if on}
    owned = {c for c in chains if is_network_chain(c)}
    expected_chains = {c for name in active for c in chain_ids(name).all()}
    if owned != expected_chains:
        mismatches.append(f"chains without a running network: {sorted(owned - expected_chains)}")
    bridges = {name for name in link_map if name.startswith("vl")}
    if bridges != {f"vl{name[2:]}" for name in active}:
        mismatches.append(f"bridges {sorted(bridges)} for {sorted(active)}")
    procs = sorted(conf.rsplit("/", 1)[-1].removesuffix(".conf")
                   for conf in dnsmasq_processes(host).values())
    if procs != sorted(active):
        mismatches.append(f"dnsmasq for {procs}, running {sorted(active)}")
    statuses = {p.stem for p in (daemon.run_dir / "networks").glob("*.json")}
    if statuses != active:
        mismatches.append(f"status files {sorted(statuses)}, running {sorted(active)}")
    return mismatches


def test_memory_stays_flat_over_500_start_stop_cycles(vnetd_daemon: Daemon) -> None:
    daemon = vnetd_daemon
    daemon.start("--no-default-network")
    pid = daemon_pid(daemon)
    client = BusClient(daemon.bus.address)
    cycles = 500
    samples: list[int] = []
    began = time.monotonic()
    try:
        reply = client.define(load_xml(1))
        assert reply.error is None, reply
        path = str(reply.body[0])
        for _ in range(cycles):
            started: Reply = client.net(path, "Start")
            assert started.error is None, started
            stopped = client.net(path, "Destroy")
            assert stopped.error is None, stopped
            samples.append(rss_kib(pid))
    finally:
        client.close()
    elapsed = time.monotonic() - began
    summary.add("load_operations", 2 * cycles)
    first = sum(samples[:100]) / 100 / 1024
    last = sum(samples[-100:]) / 100 / 1024
    summary.figure("memory: RSS first 100 / last 100 cycles",
                   f"{first:.1f} MiB / {last:.1f} MiB ({last - first:+.2f} MiB, "
                   f"{cycles} cycles in {elapsed:.0f} s)")
    print(f"RSS over {cycles} start/stop cycles ({elapsed:.1f} s): first 100 avg {first:.1f} "
          f"MiB, last 100 avg {last:.1f} MiB ({last - first:+.2f} MiB)")
    # Unread netlink acknowledgements piling up in pyroute2 made this +4.4-4.8 MiB; with
    # them gone it is +1.2-1.3 MiB (allocator state while the work never pauses).
    assert last - first < 3, f"daemon grew by {last - first:.1f} MiB"
