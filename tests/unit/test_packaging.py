"""Build the Debian package and inspect it: file list, control data, launchers, lintian."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require, require_tools

REPO = Path(__file__).resolve().parents[2]

EXPECTED_FILES = {
    "./usr/bin/vnetd",
    "./usr/bin/vnetctl",
    "./lib/systemd/system/vnetd.service",
    "./usr/share/dbus-1/system.d/org.vnetd1.conf",
    "./usr/share/dbus-1/system-services/org.vnetd1.service",
    "./usr/share/polkit-1/actions/org.vnetd1.policy",
    "./usr/share/vnetd/networks/default.xml",
    "./usr/share/bash-completion/completions/vnetctl",
    "./usr/share/doc/vnetd/copyright",
    "./usr/share/doc/vnetd/changelog.gz",
    "./usr/lib/vnetd/vnetd/__init__.py",
    "./usr/lib/vnetd/vnetctl/cli.py",
    "./usr/lib/vnetd/dbus_fast/aio/message_bus.py",
    "./usr/lib/vnetd/pyroute2/__init__.py",
}


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_tools("dpkg-deb", "gzip")
    site = list((REPO / ".venv" / "lib").glob("python3*/site-packages/dbus_fast"))
    require(bool(site), ".venv with dbus-fast and pyroute2 (scripts/setup.sh)")
    out = tmp_path_factory.mktemp("deb")
    proc = subprocess.run([str(REPO / "packaging" / "build-deb.sh"), str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == "vnetd_0.1.0_all.deb"
    yield path


def listing(deb: Path) -> dict[str, str]:
    """path -> mode string, from ``dpkg-deb -c``."""
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                         check=True).stdout
    files = {}
    for line in out.splitlines():
        fields = line.split()
        files[fields[5]] = fields[0]
    return files


def test_file_list(deb: Path) -> None:
    files = listing(deb)
    missing = EXPECTED_FILES - set(files)
    assert not missing
    assert files["./usr/bin/vnetd"].startswith("-rwxr-xr-x")
    assert files["./usr/bin/vnetctl"].startswith("-rwxr-xr-x")
    # Architecture "all": no compiled code, no byte code, no build leftovers.
    assert not [f for f in files if f.endswith((".so", ".pyc", ".c")) or "__pycache__" in f]


def test_control_data(deb: Path) -> None:
    def field(name: str) -> str:
        return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,
                              text=True, check=True).stdout.strip()

    assert field("Package") == "vnetd"
    assert field("Version") == "0.1.0"
    assert field("Architecture") == "all"
    depends = [d.strip().split(" ")[0] for d in field("Depends").split(",")]
    for dep in ("python3", "python3-lxml", "python3-nftables", "python3-systemd",
                "dnsmasq-base", "nftables", "dbus"):
        assert dep in depends
    assert "python3 (>= 3.11)" in field("Depends")
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    for script in ("postinst", "prerm", "postrm"):
        assert script in info


def test_installed_tree(deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    unit = (tmp_path / "lib/systemd/system/vnetd.service").read_text()
    assert "ExecStart=/usr/bin/vnetd\n" in unit
    assert (tmp_path / "usr/share/dbus-1/system.d/org.vnetd1.conf").read_bytes() == \
        (REPO / "dbus-policy/org.vnetd1.conf").read_bytes()
    assert "<name>default</name>" in \
        (tmp_path / "usr/share/vnetd/networks/default.xml").read_text()
    # The launcher runs with the system Python and the vendored, pure-Python dbus-fast.
    require_tools("python3")
    launcher = str(tmp_path / "usr/bin/vnetctl")
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/vnetd.sock"}
    helped = subprocess.run(["/usr/bin/python3", launcher, "--help"], capture_output=True,
                            text=True, env=env, check=False)
    assert helped.returncode == 0 and "net-list" in helped.stdout
    listed = subprocess.run(["/usr/bin/python3", launcher, "net-list", "--all"],
                            capture_output=True, text=True, env=env, check=False)
    assert listed.returncode == 1
    assert listed.stderr.startswith("error: cannot connect to the system bus at "
                                    "unix:path=/nonexistent/vnetd.sock")
    # Run as a program: its #! line starts Python with -IS (no site-packages scan).
    assert Path(launcher).read_text().startswith("#!/usr/bin/python3 -IS\n")
    for argv in (["net-list", "--all"], ["net-info", "default"]):
        direct = subprocess.run([launcher, *argv], capture_output=True, text=True, env=env,
                                check=False)
        assert direct.returncode == 1 and direct.stderr.startswith(
            "error: cannot connect to the system bus at unix:path=/nonexistent/vnetd.sock"), \
            direct.stderr
    probe = subprocess.run(
        ["/usr/bin/python3", "-I", "-c",
         f"import sys; sys.path.insert(0, {str(tmp_path / 'usr/lib/vnetd')!r}); "
         "import dbus_fast.message as m, dbus_fast.aio, pyroute2; print(m.__file__)"],
        capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().endswith("/usr/lib/vnetd/dbus_fast/message.py")


def test_lintian(deb: Path) -> None:
    """Lintian's findings are printed for the report; errors fail, warnings do not."""
    require_tools("lintian")
    proc = subprocess.run(["lintian", "--tag-display-limit", "0", str(deb)],
                          capture_output=True, text=True, timeout=600, check=False)
    findings = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:", "I:")]
    print("lintian findings:\n" + "\n".join(findings))
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert not [f for f in findings if f.startswith("E:")], findings
