"""Not collected on its own (no ``test_`` prefix): ``test_harness`` runs it in a pytest
of its own and ends that pytest with SIGTERM while this test holds a running network."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology


def test_hold_a_running_network_until_ended(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("held", 21, bridge="vheld")), "Start")
    topology.add_guest("vheld").dhcp()
    Path(os.environ["VNETD_TEST_READY_FILE"]).write_text(str(vnetd_daemon.root))
    time.sleep(120)
    raise AssertionError("the session was not ended")
