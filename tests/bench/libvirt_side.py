"""libvirt 9 as the reference: libvirtd with only its network driver, driven by virsh.

Debian 12 ships only the monolithic libvirtd (no virtnetworkd). Loading just
``libvirt_driver_network.so`` (through LIBVIRT_DRIVER_DIR) gives the same thing, and
bind-mounting its state directories in a private mount namespace keeps the host's
/etc/libvirt, /var/lib/libvirt and /run/libvirt untouched. The daemon runs inside the
side's host namespace; without a system bus it uses iptables (iptables-nft) directly.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from tests.bench import procinfo
from tests.bench.protocol import Side, run_cli
from tests.integration.netns import Namespace

VIRSH = "/usr/bin/virsh"
LIBVIRTD = "/usr/sbin/libvirtd"
# Real path inside the daemon's mount namespace -> subdirectory of the work dir.
BINDS = {"/etc/libvirt": "etc", "/var/lib/libvirt": "varlib", "/run/libvirt": "run",
         "/var/cache/libvirt": "cache", "/var/log/libvirt": "log"}


def available() -> bool:
    return os.access(VIRSH, os.X_OK) and os.access(LIBVIRTD, os.X_OK) and bool(_driver())


def _driver() -> str | None:
    found = glob.glob("/usr/lib*/*/libvirt/connection-driver/libvirt_driver_network.so")
    found += glob.glob("/usr/lib*/libvirt/connection-driver/libvirt_driver_network.so")
    return found[0] if found else None


class LibvirtSide(Side):
    label = "libvirt"

    def __init__(self, host: Namespace, workdir: Path) -> None:
        super().__init__(host, workdir)
        self.root = workdir / "libvirt"
        self.sock = self.root / "sock" / "libvirt-sock"
        self.uri = f"network:///system?socket={self.sock}"
        self.made_mountpoints: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def prepare(self) -> None:
        for sub in [*BINDS.values(), "sock", "drivers"]:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if Path("/etc/libvirt/libvirt.conf").exists():
            (self.root / "etc" / "libvirt.conf").write_text(
                Path("/etc/libvirt/libvirt.conf").read_text())
        for mountpoint in BINDS:
            # Empty directories the libvirt-daemon-system package would have made; they
            # only serve as mount points and are removed again in cleanup().
            if not os.path.isdir(mountpoint):
                os.makedirs(mountpoint)
                self.made_mountpoints.append(mountpoint)
        driver = _driver()
        if driver is None:
            raise RuntimeError("libvirt_driver_network.so not found (libvirt-daemon missing?)")
        link = self.root / "drivers" / "libvirt_driver_network.so"
        if not link.exists():
            link.symlink_to(driver)
        conf = self.root / "libvirtd.conf"
        conf.write_text(f'unix_sock_dir = "{self.sock.parent}"\n'
                        'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                        f'log_outputs = "3:file:{self.root / "libvirtd.log"}"\n')
        script = ["set -e", "mount --make-rprivate /"]
        script += [f"mount --bind {shlex.quote(str(self.root / sub))} {mp}"
                   for mp, sub in BINDS.items()]
        script.append(f"export LIBVIRT_DRIVER_DIR={shlex.quote(str(self.root / 'drivers'))}")
        script.append(f"exec {LIBVIRTD} --config {shlex.quote(str(conf))}")
        (self.root / "start.sh").write_text("\n".join(script) + "\n")

    def start_daemon(self) -> None:
        with open(self.root / "daemon.out", "a") as out:
            # ip netns exec, unshare and sh all exec(): the PID is libvirtd's.
            self.proc = self.host.popen("unshare", "-m", "--propagation", "private", "sh",
                                        str(self.root / "start.sh"), stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def stop_daemon(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        if not procinfo.wait_exit(self.proc, 60):
            self.proc.kill()
            self.proc.wait()

    def daemon_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _virsh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli([VIRSH, "-q", "-c", self.uri, *args])

    def probe(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"libvirtd exited ({self.proc.returncode}); see {self.root}")
        return subprocess.run([VIRSH, "-q", "-c", self.uri, "net-list", "--all"],
                              capture_output=True, check=False).returncode == 0

    def define(self, xml_file: Path) -> None:
        self._virsh("net-define", str(xml_file))

    def start(self, name: str) -> None:
        self._virsh("net-start", name)

    def destroy(self, name: str) -> None:
        self._virsh("net-destroy", name)

    def undefine(self, name: str) -> None:
        self._virsh("net-undefine", name)

    def list_all(self) -> str:
        return self._virsh("net-list", "--all").stdout

    def rpc_rates(self, name: str, batches: int) -> dict[str, list[float]]:
        """net-dumpxml commands per second inside ONE virsh session (one connection), so
        exec and connect drop out: what remains is LookupByName + GetXMLDesc RPCs.
        libvirt-dbus and the Python bindings are not installed, so there is no figure for
        a single RPC or for calls in flight."""
        k = 50
        one = f"net-dumpxml {name}"
        floor = []
        for _ in range(3):
            began = time.perf_counter()
            self._virsh(one)
            floor.append(time.perf_counter() - began)
        base = sorted(floor)[1]
        rates = []
        for _ in range(batches):
            began = time.perf_counter()
            self._virsh("; ".join([one] * (k + 1)))
            extra = time.perf_counter() - began - base
            if extra > 0:  # noise can make a batch look faster than the floor: skip it
                rates.append(k / extra)
        return {"rpc_xml_serial": rates}

    def versions(self) -> dict[str, str]:
        out = subprocess.run([LIBVIRTD, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
        return {"libvirt": out}

    def cleanup(self) -> None:
        for mountpoint in reversed(self.made_mountpoints):
            with contextlib.suppress(OSError):
                os.rmdir(mountpoint)
