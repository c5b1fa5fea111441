"""Fixtures for tests that need root, network namespaces and real system programs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_root, require_tools
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
