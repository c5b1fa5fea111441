"""Upstream DNS through the real daemon: a network's dnsmasq forwards to the nameservers
of the resolv.conf vnetd reads (here a file the test writes, naming DNS servers in the
uplink namespace), follows a change of that file within seconds, and holds no inotify
instance for it (each one counted against fs.inotify.max_user_instances, which capped a
host at ~126 networks with DNS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import require_tools
from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import PYTHON, REPO, UPLINK_PEER_IP, UPLINK_PREFIX, Topology

SECOND_UPSTREAM_IP = "198.51.100.3"


def _upstream(topology: Topology, address: str, answer: str) -> subprocess.Popen[str]:
    """A DNS server in the uplink namespace that answers every name under up.test."""
    return topology.uplink.popen(
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
        "--no-hosts", "--bind-interfaces", f"--listen-address={address}",
        f"--address=/up.test/{answer}", "--pid-file=", "--log-facility=-", "--user=root",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _dig(topology: Topology, server: str, name: str) -> str:
    out = topology.host.run("dig", "+short", "+time=1", "+tries=1", f"@{server}", name,
                            check=False).stdout
    return out.strip()


def _write_resolv(path: Path, text: str) -> None:
    # As resolvconf and systemd-resolved do: a new file renamed over the old one.
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_dnsmasq_forwards_to_resolv_conf_servers_and_follows_a_change(
        vnetd_daemon: Daemon, topology: Topology, tmp_path: Path) -> None:
    require_tools("dnsmasq", "dig")
    topology.uplink.run("ip", "addr", "add", f"{SECOND_UPSTREAM_IP}/{UPLINK_PREFIX}",
                        "dev", "up1")
    first = _upstream(topology, UPLINK_PEER_IP, "192.0.2.7")
    second = _upstream(topology, SECOND_UPSTREAM_IP, "192.0.2.8")
    try:
        resolv = tmp_path / "resolv.conf"
        _write_resolv(resolv, f"# test\nnameserver {UPLINK_PEER_IP}\n")
        vnetd_daemon.start("--no-default-network", "--resolv-conf", str(resolv))
        api = Api(vnetd_daemon)
        path = api.define(network_xml("up", 85, bridge="vup"))
        api.net(path, "Start")

        assert _dig(topology, "10.77.85.1", "www.up.test") == "192.0.2.7"

        pid = int((vnetd_daemon.state_dir / "dnsmasq" / "up.pid").read_text())
        conf = (vnetd_daemon.state_dir / "dnsmasq" / "up.conf").read_text().splitlines()
        assert "no-resolv" in conf
        fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert "anon_inode:inotify" not in fds, fds

        _write_resolv(resolv, f"nameserver {SECOND_UPSTREAM_IP}\n")
        began = time.monotonic()
        answer = ""
        while time.monotonic() - began < 10:
            answer = _dig(topology, "10.77.85.1", "www.up.test")
            if answer == "192.0.2.8":
                break
            time.sleep(0.2)
        followed = time.monotonic() - began
        print(f"new upstream answered {followed:.2f} s after resolv.conf changed")
        assert answer == "192.0.2.8", answer
        assert "upstream DNS servers changed" in vnetd_daemon.log()
        assert int((vnetd_daemon.state_dir / "dnsmasq" / "up.pid").read_text()) == pid
    finally:
        for proc in (first, second):
            proc.terminate()
            proc.wait(timeout=5)


# The supervisor alone, in the host namespace: the servers file changes just as a
# dnsmasq has read it and before the supervisor tracks it (the once-a-second look can
# run then); that dnsmasq must be told to read it again.
DRIVER = r"""
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[5])
from vnetd.dnsmasq.supervisor import DnsmasqSupervisor
from vnetd.netxml import parse_network
from vnetd.paths import Paths

async def main():
    state, resolv, xml, new = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    sup = DnsmasqSupervisor(Paths(state / "etc", state / "run", state / "lib"),
                            resolv_conf=resolv)
    wait_ready = sup._wait_ready

    async def ready_then_changed(*args):
        await wait_ready(*args)
        tmp = resolv.with_name("resolv.new")
        tmp.write_text(f"nameserver {new}\n")
        tmp.replace(resolv)
        assert sup._upstream.refresh()

    sup._wait_ready = ready_then_changed
    definition = parse_network(xml)
    await sup.start(definition)
    await asyncio.sleep(0.5)
    log = sup.files(definition.name).log.read_text()
    await sup.stop(definition.name)
    print(log)

asyncio.run(main())
"""


def test_a_dnsmasq_started_while_the_servers_change_reads_them_again(
        topology: Topology) -> None:
    require_tools("dnsmasq")
    host = topology.host
    host.run("ip", "link", "add", "vupb", "type", "bridge")
    host.run("ip", "addr", "add", "10.77.86.1/24", "dev", "vupb")
    host.run("ip", "link", "set", "vupb", "up")
    # dnsmasq reads the servers file after dropping root: a directory it can enter.
    workdir = Path(tempfile.mkdtemp(prefix="vnetd-upstream-"))
    try:
        workdir.chmod(0o755)
        resolv = workdir / "resolv.conf"
        resolv.write_text("nameserver 192.0.2.53\n")
        out = host.run(PYTHON, "-c", DRIVER, str(workdir / "state"), str(resolv),
                       network_xml("mid", 86, bridge="vupb"), "192.0.2.154",
                       str(REPO / "daemon"), timeout=30).stdout
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert "using nameserver 192.0.2.53#53" in out, out  # what it read at start
    assert "using nameserver 192.0.2.154#53" in out, out  # and after the SIGHUP
