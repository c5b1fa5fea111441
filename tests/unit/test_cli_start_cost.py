"""What makes ``vnetctl``'s everyday commands cheap to start, pinned down: the launcher
runs Python with -IS, the quick path imports none of typing, re, enum or collections,
and the hand-written replacements agree with what they replace."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from vnetctl import wire
from vnetctl.quick import NetListOptions, parse_net_list
from vnetctl.records import NetworkInfo
from vnetctl.types import ListFlags
from vnetctl.uuids import looks_like_uuid

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
NO_BUS = "unix:path=/nonexistent/vnetd-test.sock"


def render_launcher(tmp_path: Path) -> Path:
    """packaging/vnetctl-launcher as scripts/setup.sh installs it into the venv."""
    text = (REPO / "packaging" / "vnetctl-launcher").read_text()
    launcher = tmp_path / "vnetctl"
    launcher.write_text(text.replace("@PYTHON@", PYTHON)
                        .replace("@LIBDIR@", str(REPO / "client")))
    launcher.chmod(0o755)
    return launcher


def test_launcher_starts_python_isolated_and_without_site(tmp_path: Path) -> None:
    first = render_launcher(tmp_path).read_text().splitlines()[0]
    # One word after the interpreter: Linux passes the rest of a #! line as one argument.
    assert first == f"#!{PYTHON} -IS"


def test_quick_commands_import_no_heavy_standard_modules(tmp_path: Path) -> None:
    launcher = render_launcher(tmp_path)
    probe = tmp_path / "probe.py"
    # Run the launcher's code with an exit hook that reports what got imported (the
    # launcher ends with os._exit, without Python's teardown or atexit hooks).
    probe.write_text(
        "import os, sys\n"
        "_exit = os._exit\n"
        "def report(code):\n"
        "    sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
        "    sys.stderr.flush()\n"
        "    _exit(code)\n"
        "os._exit = report\n"
        f"sys.argv = [{str(launcher)!r}] + sys.argv[1:]\n"
        f"exec(compile(open({str(launcher)!r}).read(), 'vnetctl', 'exec'))\n")
    for argv in (["net-list", "--all"], ["net-start", "default"],
                 ["net-define", str(tmp_path / "missing.xml")],
                 ["net-dumpxml", "default", "--inactive"], ["net-info", "default"],
                 ["net-uuid", "default"], ["net-dhcp-leases", "default", "--mac", "x"],
                 ["net-autostart", "--disable", "default"]):
        proc = subprocess.run([PYTHON, "-IS", str(probe), *argv], capture_output=True,
                              text=True, timeout=60, check=False,
                              env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": NO_BUS})
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: "), proc.stderr
        modules = set(proc.stderr.rpartition("MODULES ")[2].split())
        assert "vnetctl.quick" in modules
        heavy = modules & {"typing", "re", "enum", "collections", "site", "argparse",
                           "dbus_fast", "asyncio", "urllib.parse", "json"}
        assert not heavy, f"{argv}: {sorted(heavy)}"


def test_other_commands_turn_site_packages_on(tmp_path: Path) -> None:
    """net-info needs dbus-fast, which lives in site-packages the launcher skipped."""
    proc = subprocess.run([str(render_launcher(tmp_path)), "net-info", "default"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": NO_BUS})
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: cannot connect to the system bus at {NO_BUS}"), \
        proc.stderr
    assert "Traceback" not in proc.stderr


LIBVIRT_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
uuid_like = st.lists(st.sampled_from("0123456789abcdefABCDEF-g "), max_size=40).map("".join)


@given(st.one_of(uuid_like, st.uuids().map(str), st.uuids().map(lambda u: u.hex),
                 st.text(max_size=40)))
def test_uuid_shape_matches_libvirts_pattern(text: str) -> None:
    assert looks_like_uuid(text) == bool(LIBVIRT_UUID.match(text) and "\n" not in text)


def test_uuid_examples() -> None:
    assert looks_like_uuid("4a3c0bcd-c6a1-47b9-9f11-30718b9785d4")
    assert looks_like_uuid("4a3c0bcdc6a147b99f1130718b9785d4")
    assert looks_like_uuid("4a3c0bcd-c6a147b9-9f11-30718b9785d4")
    assert not looks_like_uuid("4a3c0bcd--c6a1-47b9-9f11-30718b9785d4")
    assert not looks_like_uuid("default")
    assert not looks_like_uuid("")


@given(st.binary(max_size=30))
def test_address_unescaping_is_dbus_percent_encoding(raw: bytes) -> None:
    plain = set(b"-_/.\\*0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    escaped = "".join(chr(b) if b in plain else f"%{b:02x}" for b in raw)
    assert wire._unescape(escaped).encode("utf-8", "surrogateescape") == raw


def test_network_info_is_a_value() -> None:
    a = NetworkInfo("n", "u", True, True, False, "br0", "nat", "/p")
    assert a == NetworkInfo("n", "u", True, True, False, "br0", "nat", "/p")
    assert a != NetworkInfo("n", "u", False, True, False, "br0", "nat", "/p")
    assert len({a, NetworkInfo("n", "u", True, True, False, "br0", "nat", "/p")}) == 1
    assert a.to_json() == {"name": "n", "uuid": "u", "active": True, "persistent": True,
                           "autostart": False, "bridge": "br0", "forward_mode": "nat"}
    assert repr(a).startswith("NetworkInfo(name='n', uuid='u', active=True")


def test_list_flags_keep_their_libvirt_values() -> None:
    assert [int(f) for f in (ListFlags.ACTIVE, ListFlags.INACTIVE, ListFlags.PERSISTENT,
                             ListFlags.TRANSIENT, ListFlags.AUTOSTART,
                             ListFlags.NO_AUTOSTART)] == [1, 2, 4, 8, 16, 32]


def test_net_list_options() -> None:
    assert parse_net_list(["-q", "net-list", "--all", "--name"]) == NetListOptions(
        quiet=True, all=True, name=True)
    assert parse_net_list(["net-list", "--al"]) is None  # argparse handles abbreviations
    assert NetListOptions() != NetListOptions(json=True)
