"""scripts/quickstart.sh end to end, fenced in: its own network and mount namespaces.

The mount namespace puts tmpfs over /run/dbus (so there is no system bus and the script
must start one) and over the two directories the script installs into; vnetd gets
temporary state directories. Only scripts/setup.sh is skipped (VNETD_SKIP_SETUP=1):
it installs packages on the machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.integration.daemon_harness import make_private_dir, remove_private_dir
from tests.integration.netns import REPO, Namespace

SCRIPT = r"""
set -eu
for d in /run/dbus /etc/dbus-1/system.d /usr/share/polkit-1/actions; do
  mkdir -p "$d"
  mount -t tmpfs tmpfs "$d"
done
[ ! -S /run/dbus/system_bus_socket ]
VNETD_SKIP_SETUP=1 "$REPO/scripts/quickstart.sh" --config-dir "$T/etc" --run-dir "$T/run" \
  --state-dir "$T/lib" >"$T/quickstart.log" 2>&1 &
qs=$!
# Whatever happens, end the daemon and the bus this script started, by their pids.
trap 'kill $qs 2>/dev/null; [ -f /run/dbus/pid ] && kill "$(cat /run/dbus/pid)"' EXIT
i=0
until "$REPO/.venv/bin/vnetctl" -q net-list --all --name 2>/dev/null | grep -q default; do
  i=$((i + 1)); [ $i -lt 100 ] || exit 1
  sleep 0.1
done
echo "--- list"; "$REPO/.venv/bin/vnetctl" net-list --all
echo "--- policy"; ls /etc/dbus-1/system.d /usr/share/polkit-1/actions
busctl --system tree org.vnetd1 >/dev/null && echo "--- busctl ok"
"$REPO/.venv/bin/vnetctl" -q net-destroy default >/dev/null   # its dnsmasq must not outlive us
"""


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """dnsmasq runs as its own user: the state directories must be searchable by it."""
    directory = make_private_dir()
    try:
        yield directory
    finally:
        remove_private_dir(directory)


def test_quickstart_runs_vnetd_with_the_default_network(host_ns: Namespace,
                                                         private_dir: Path) -> None:
    require_tools("unshare", "dbus-daemon", "busctl", "dnsmasq", "nft")
    tmp_path = private_dir
    proc = subprocess.run(
        ["ip", "netns", "exec", host_ns.name, "unshare", "--mount", "--propagation", "private",
         "sh", "-c", SCRIPT],
        capture_output=True, text=True, timeout=180, check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "REPO": str(REPO), "T": str(tmp_path)})
    log = (tmp_path / "quickstart.log").read_text() if (tmp_path / "quickstart.log").exists() \
        else ""
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{log}"
    out = proc.stdout
    assert " default   active   yes         yes\n" in out
    assert "org.vnetd1.conf" in out and "org.vnetd1.policy" in out
    assert "--- busctl ok" in out
    assert "starting dbus-daemon --system" in log
    assert "starting vnetd in the foreground" in log
