"""A real vnetd on a private dbus-daemon that enforces the shipped bus policy.

The bus config is Debian's own ``system.conf`` with the listen address changed and the
machine-wide parts (user switch, pid file, service helper) taken out; it includes the
system's policy directories (polkit's policy lives there) and the repository's
``dbus-policy/org.vnetd1.conf``. The daemon runs inside the test's host namespace.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.netns import PYTHON, REPO, Namespace

SYSTEM_CONF = Path("/usr/share/dbus-1/system.conf")
POLICY = REPO / "dbus-policy" / "org.vnetd1.conf"


def bus_config(socket: Path) -> str:
    text = SYSTEM_CONF.read_text()
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, count=1, flags=re.S)
    text = re.sub(r"<listen>.*?</listen>", f"<listen>unix:path={socket}</listen>", text)
    for tag in ("user", "pidfile", "servicehelper"):
        text = re.sub(rf"<{tag}>.*?</{tag}>", "", text, flags=re.S)
    text = text.replace("<fork/>", "").replace("<syslog/>", "")
    # Relative include paths are resolved against the config file's folder: make them
    # point where Debian's system.conf means them to.
    text = text.replace("<includedir>system.d</includedir>",
                        f"<includedir>{SYSTEM_CONF.parent / 'system.d'}</includedir>")
    # No activation on the private bus: services are started by the tests.
    text = re.sub(r"<standard_system_servicedirs/>", "", text)
    include = f"<include>{POLICY}</include>\n</busconfig>"
    return text.replace("</busconfig>", include)


@dataclass
class PrivateBus:
    directory: Path
    ns: Namespace
    process: subprocess.Popen[str] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "bus.sock"

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def start(self) -> None:
        config = self.directory / "bus.conf"
        config.write_text(bus_config(self.socket))
        self.process = self.ns.popen("dbus-daemon", f"--config-file={config}", "--nofork",
                                     "--nopidfile", stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("private dbus-daemon did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


@dataclass
class Daemon:
    """One vnetd under test, restartable, with its three directories under ``root``."""

    ns: Namespace
    bus: PrivateBus
    root: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    starts: int = 0

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def state_dir(self) -> Path:
        return self.root / "lib"

    @property
    def log_path(self) -> Path:
        return self.root / "vnetd.log"

    def start(self, *extra: str, wait: bool = True, env: dict[str, str] | None = None) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = open(self.log_path, "a")  # noqa: SIM115 - handed to the child
        log.write(f"--- start {self.starts} ---\n")
        log.flush()
        argv = [PYTHON, "-m", "vnetd", "--config-dir", str(self.config_dir), "--run-dir",
                str(self.run_dir), "--state-dir", str(self.state_dir), "--log-level", "debug",
                *self.extra_args, *extra]
        full_env = {"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address, **self.env, **(env or {})}
        self.process = self.ns.popen(*argv, env=full_env, stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> float:
        """Wait until the daemon owns its bus name; return how long that took."""
        began = time.monotonic()
        deadline = began + timeout
        while True:
            proc = subprocess.run(
                ["busctl", f"--address={self.bus.address}", "call", "org.freedesktop.DBus",
                 "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s",
                 "org.vnetd1"], capture_output=True, text=True, check=False)
            if proc.stdout.strip() == "b true":
                return time.monotonic() - began
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"vnetd exited with {self.process.returncode}:\n"
                                     f"{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"vnetd not ready after {timeout}s:\n{self.log()}")
            time.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def busctl(self, *args: str, check: bool = True, user: int | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = ["busctl", f"--address={self.bus.address}", *args]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"busctl {' '.join(args)} failed: {proc.stderr}\n"
                                 f"--- daemon log ---\n{self.log()[-4000:]}")
        return proc

    def call(self, path: str, iface: str, member: str, signature: str = "",
             *args: str, check: bool = True, user: int | None = None,
             ) -> subprocess.CompletedProcess[str]:
        extra = [signature, *args] if signature else []
        return self.busctl("call", "org.vnetd1", path, iface, member, *extra, check=check,
                           user=user)


def make_private_dir() -> Path:
    """A directory other users can traverse, so unprivileged callers reach the bus socket."""
    directory = Path(tempfile.mkdtemp(prefix="vnetd-test-"))
    os.chmod(directory, 0o755)
    return directory


def remove_private_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
