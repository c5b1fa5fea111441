"""What a daemon with no network loads before it answers on the bus, pinned down: not
pyroute2, lxml and the XML layer, net-update or the bridge survey (each is imported when
first needed), nor ctypes.util (whose find_library runs ``ldconfig``) or uuid, secrets
and platform (only a define needs them), nor shutil with its compression modules (the
option parser is given its width; the dnsmasq binary is looked for at the first start),
nor datetime (only a lease's ``expires_at`` needs it),
and the lazy entry points behave as what they stand for."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from vnetd.codec import format_network as lazy_format
from vnetd.codec import parse_network as lazy_parse
from vnetd.manager import DEFAULT_NETWORK_XML
from vnetd.netxml import format_network, parse_network

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
DEFERRED = ("pyroute2", "lxml", "vnetd.netxml", "vnetd.update", "vnetd.bridge.survey",
            "vnetd.bridge.netlink", "ctypes.util", "tempfile", "uuid", "secrets", "platform",
            "shutil", "datetime")


def test_modules_of_a_daemon_with_no_network() -> None:
    code = textwrap.dedent(f"""
        import sys
        import vnetd.main, vnetd.firewall.nft, vnetd.bus.service, vnetd.daemon
        vnetd.main.parse_args(["--log-level", "debug"])
        print(sorted(m for m in sys.modules if m.startswith({DEFERRED!r})))
    """)
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_lazy_codec_is_netxml() -> None:
    definition = lazy_parse(DEFAULT_NETWORK_XML)
    assert definition == parse_network(DEFAULT_NETWORK_XML)
    assert lazy_format(definition) == format_network(definition)
