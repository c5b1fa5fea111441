"""Fixtures for tests that need root, network namespaces and real system programs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_root, require_tools
from tests.integration.daemon_harness import (
    Daemon,
    PrivateBus,
    make_private_dir,
    remove_private_dir,
)
from tests.integration.netns import Namespace, Topology, create_namespace, make_topology


@pytest.fixture
def topology() -> Iterator[Topology]:
    """A host namespace with an uplink namespace (198.51.100.1 <-> .2); add guests with
    ``topology.add_guest(bridge)``. Everything is removed afterwards."""
    require_root()
    require_tools("ip", "nft", "dnsmasq", "busybox")
    topo = make_topology()
    try:
        yield topo
    finally:
        topo.destroy()


@pytest.fixture
def host_ns() -> Iterator[Namespace]:
    """A bare namespace for backend tests that need no uplink."""
    require_root()
    require_tools("ip")
    ns = create_namespace("host")
    try:
        yield ns
    finally:
        ns.destroy()


@pytest.fixture
def private_bus(topology: Topology) -> Iterator[PrivateBus]:
    """A private system-type dbus-daemon with the shipped vnetd policy, in the host namespace."""
    require_tools("dbus-daemon", "busctl")
    directory = make_private_dir()
    bus = PrivateBus(directory, topology.host)
    try:
        bus.start()
        yield bus
    finally:
        bus.stop()
        remove_private_dir(directory)


@pytest.fixture
def vnetd_daemon(topology: Topology, private_bus: PrivateBus) -> Iterator[Daemon]:
    """A real vnetd (not yet started: call ``.start()``) in the host namespace on a private
    bus. Its directories live in a temporary folder; everything is removed afterwards."""
    daemon = Daemon(topology.host, private_bus, private_bus.directory / "vnetd",
                    extra_args=[])
    daemon.root.mkdir()
    try:
        yield daemon
    finally:
        daemon.stop()
