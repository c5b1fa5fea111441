from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import require_root
from tests.integration.netns import REPO, Leftovers, Topology


def test_topology_smoke(topology: Topology) -> None:
    topology.host.run("ip", "link", "add", "br9", "type", "bridge")
    topology.host.run("ip", "addr", "add", "10.9.0.1/24", "dev", "br9")
    topology.host.run("ip", "link", "set", "br9", "up")
    g = topology.add_guest("br9")
    g.ns.run("ip", "addr", "add", "10.9.0.2/24", "dev", "eth0")
    g.ns.run("ping", "-c1", "-W2", "10.9.0.1")
    topology.host.run("ping", "-c1", "-W2", "198.51.100.2")
    assert "10.9.0.2" in g.ns.run("ip", "addr").stdout


def test_sigterm_to_pytest_removes_what_the_tests_made(tmp_path: Path) -> None:
    """A test session ended by SIGTERM (a CI timeout, kill) tears its fixtures down: no
    namespace, bus, daemon, dnsmasq or DHCP client, nor their directory, is left."""
    require_root()
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path(__file__).with_name("interrupted_session.py"))],
        cwd=REPO, env={**os.environ, "VNETD_TEST_READY_FILE": str(ready)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    made = Leftovers.of(proc.pid)
    private_dir = None
    try:
        deadline = time.monotonic() + 90
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the session never held its network"
        private_dir = Path(ready.read_text()).parent  # the bus's and the daemon's directory
        namespaces = made.note_processes()
        assert len(namespaces) == 3 and made.pids, (namespaces, made)  # host, uplink, guest
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left_namespaces, alive = made.remove()
        left_dir = private_dir is not None and private_dir.exists()
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)
    assert "KeyboardInterrupt" in output, output
    assert left_namespaces == [], f"namespaces left behind: {left_namespaces}"
    assert alive == [], f"processes left running: {alive}"
    assert not left_dir, f"{private_dir} left behind"
