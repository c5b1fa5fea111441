"""``vnetctl net-list`` with many networks: same output as the library's slow path, and
its wall time (reported, never asserted: this machine is shared and noisy).

Run ``pytest -s tests/integration/test_cli_speed.py`` to see the numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import subprocess
import time

import pytest

from tests.integration.daemon_harness import Daemon
from tests.integration.netns import REPO
from tests.integration.test_cli import VNETCTL, ok
from vnetctl import output
from vnetctl.client import Client
from vnetctl.commands import list_flags
from vnetctl.types import NetworkInfo

NETWORKS = int(os.environ.get("VNETCTL_BENCH_NETWORKS", "200"))  # "default" and the rest
RUNS = 20


def network_xml(i: int) -> str:
    # No <ip>: nothing to start but a bridge, and no address plan to collide.
    return f"<network><name>n{i:03d}</name><bridge name='vns{i:03d}'/></network>"


async def populate(address: str) -> None:
    """199 networks in one connection; a few running, a few autostarted, one transient."""
    async with await Client.connect(address) as client:
        for i in range(1, NETWORKS - 1):
            net = await client.define_xml(network_xml(i))
            if i % 40 == 0:
                await net.start()
            if i % 25 == 0:
                await net.set_autostart(True)
        last = NETWORKS - 1
        await client.create_xml(network_xml(last).replace(f"n{last:03d}", f"t{last:03d}"))


async def slow_path_listing(address: str, flags: int) -> list[NetworkInfo]:
    """ListNetworks, then one GetAll per network: what vnetctl did before the fast path."""
    async with await Client.connect(address) as client:
        paths = await client.list_network_paths(flags)
        infos = [await client.network(p).info() for p in paths]
    return sorted(infos, key=lambda n: (n.name.casefold(), n.name))


@pytest.fixture
def crowded(vnetd_daemon: Daemon) -> Daemon:
    vnetd_daemon.start()
    asyncio.run(populate(vnetd_daemon.bus.address))
    return vnetd_daemon


STATE = ((), ("--all",), ("--inactive",))
FILTER_FLAGS = ("--persistent", "--transient", "--autostart", "--no-autostart")
FILTERS = tuple(tuple(f for f, on in zip(FILTER_FLAGS, bits, strict=True) if on)
                for bits in itertools.product((False, True), repeat=len(FILTER_FLAGS)))
SHAPES = ((), ("--name",), ("--uuid",), ("--table",), ("--json",))


def render(args: tuple[str, ...], infos: list[NetworkInfo]) -> str:
    if "--json" in args:
        return output.to_json([n.to_json() for n in infos])  # no trailing empty line
    if "--name" in args:
        return output.net_list_names(infos) + "\n"
    if "--uuid" in args:
        return output.net_list_uuids(infos) + "\n"
    return output.net_list_table(infos) + "\n"


def test_fast_net_list_matches_the_slow_path_for_every_flag(crowded: Daemon) -> None:
    from vnetctl.parser import build_parser

    checked = set()
    for state, filters in itertools.product(STATE, FILTERS):
        flags = list_flags(build_parser().parse_args(["net-list", *state, *filters]))
        infos = asyncio.run(slow_path_listing(crowded.bus.address, flags))
        for shape in SHAPES:
            args = (*state, *filters, *shape)
            assert ok(crowded, "net-list", *args) == render(args, infos), args
            checked.add(args)
        args = (*state, *filters)
        assert ok(crowded, "-q", "net-list", *args) == render(args, infos)[:-1], args
    assert len(checked) == len(STATE) * 16 * len(SHAPES)
    everything = ok(crowded, "net-list", "--all", "--name").split()
    assert len(everything) == NETWORKS and everything == sorted(everything)


def time_command(address: str, argv: list[str]) -> list[float]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - began)
    return times


def test_net_list_wall_time_with_200_networks(crowded: Daemon) -> None:
    # Installed packages run from byte code; PYTHONDONTWRITEBYTECODE (set here) would
    # otherwise make every run compile vnetctl's modules again.
    python = VNETCTL.replace("vnetctl", "python")
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "client" / "vnetctl")],
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""}, check=True)
    rows = {
        "python -c pass (floor)": time_command(crowded.bus.address, [python, "-c", "pass"]),
        "vnetctl --version": time_command(crowded.bus.address, [VNETCTL, "--version"]),
        "vnetctl net-list --all": time_command(crowded.bus.address,
                                               [VNETCTL, "net-list", "--all"]),
    }
    print()
    for what, times in rows.items():
        print(f"{what:28} median {statistics.median(times) * 1000:6.1f} ms, "
              f"min {min(times) * 1000:6.1f} ms over {len(times)} runs")
    assert all(len(t) == RUNS for t in rows.values())
