"""The store: atomic writes that survive a crash at any point, and corrupt files set aside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vnetd.errors import InvalidArgument
from vnetd.model import Bridge, NetworkDefinition
from vnetd.paths import Paths
from vnetd.store import RuntimeStatus, Store, atomic_write


def _parse(text: str) -> NetworkDefinition:
    # The store takes its parser as a dependency; a tiny one keeps this test about files.
    try:
        doc = json.loads(text[text.find("{"):] if "-->" in text else text)
    except ValueError as exc:
        raise InvalidArgument(f"bad document: {exc}") from exc
    return NetworkDefinition(name=doc["name"], uuid=doc.get("uuid"),
                             bridge=Bridge(name=doc.get("bridge")))


def _format(definition: NetworkDefinition) -> str:
    return json.dumps({"name": definition.name, "uuid": definition.uuid,
                       "bridge": definition.bridge_name})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(Paths(tmp_path / "etc", tmp_path / "run", tmp_path / "lib"), _parse, _format)
    s.prepare()
    return s


def _raw_store_file(store: Store, name: str, text: str) -> None:
    store.definition_path(name).write_text(text)


def test_definition_round_trip_and_autostart(store: Store) -> None:
    d = NetworkDefinition(name="net1", uuid="u1", bridge=Bridge(name="virbr5"))
    store.save_definition(d)
    store.set_autostart("net1", True)
    [loaded] = store.load_definitions()
    assert loaded.definition == d
    assert loaded.autostart
    assert store.autostart_path("net1").is_symlink()
    assert os.readlink(store.autostart_path("net1")) == str(store.definition_path("net1"))
    store.set_autostart("net1", False)
    assert not store.load_definitions()[0].autostart
    store.delete_definition("net1")
    assert store.load_definitions() == []


def test_status_round_trip(store: Store) -> None:
    d = NetworkDefinition(name="n", uuid="u", bridge=Bridge(name="virbr1"))
    store.save_status("n", RuntimeStatus(d, True, 7, 1234, 1.5, phase="starting"))
    status = store.load_statuses()["n"]
    assert (status.definition, status.bridge_ifindex, status.dnsmasq_pid, status.phase) == (
        d, 7, 1234, "starting")
    assert store.status_path("n").stat().st_mode & 0o777 == 0o600
    store.delete_status("n")
    assert store.load_statuses() == {}


def test_corrupt_definition_is_set_aside_not_deleted(store: Store) -> None:
    store.save_definition(NetworkDefinition(name="good", uuid="g"))
    _raw_store_file(store, "bad", "{not json")
    loaded = store.load_definitions()
    assert [x.definition.name for x in loaded] == ["good"]
    aside = list(store.paths.networks_dir.glob("bad.xml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"


def test_mismatched_file_name_is_set_aside(store: Store) -> None:
    _raw_store_file(store, "other", _format(NetworkDefinition(name="name", uuid="x")))
    assert store.load_definitions() == []
    assert list(store.paths.networks_dir.glob("other.xml.corrupt-*"))


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    os.environ["VNETD_TEST_HOOKS"] = "1"
    os.environ["VNETD_TEST_CRASH_AT"] = sys.argv[2]
    from pathlib import Path
    from vnetd.store import atomic_write
    atomic_write(Path(sys.argv[1]), "NEW CONTENT " * 1000, durable=sys.argv[3] == "durable")
""")


@pytest.mark.parametrize("durable", ["durable", "not-durable"])
@pytest.mark.parametrize("step", ["store-write-partial", "store-before-rename"])
def test_crash_during_write_keeps_old_file(tmp_path: Path, step: str, durable: str) -> None:
    target = tmp_path / "net.xml"
    atomic_write(target, "OLD CONTENT")
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(target), step, durable],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.read_text() == "OLD CONTENT"


def test_stale_temporaries_removed_at_prepare(store: Store) -> None:
    tmp = store.paths.networks_dir / ".tmp-net.xml.999"
    tmp.write_text("half")
    store.prepare()
    assert not tmp.exists()


def test_write_failure_is_reported_and_leaves_no_temporary(tmp_path: Path) -> None:
    from vnetd.errors import Failed

    directory = tmp_path / "ro"
    directory.mkdir()
    (directory / "x").mkdir()  # a directory where the file should go: rename fails
    with pytest.raises(Failed, match="cannot write"):
        atomic_write(directory / "x", "data")
    assert [p.name for p in directory.iterdir()] == ["x"]


def test_definitions_are_synced_to_disk_runtime_status_is_not(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Definitions must survive a power loss; runtime status describes kernel state that
    does not, and lives in /run: its writes skip fsync (still atomic: the crash test
    above covers both kinds of write)."""
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    definition = NetworkDefinition(name="n1", uuid="u1", bridge=Bridge(name="vb1"))
    store.save_definition(definition)
    assert len(synced) == 2  # the file, then its directory
    store.delete_definition("n1")
    assert len(synced) == 3  # the directory
    synced.clear()
    status = RuntimeStatus(definition=definition, persistent=False, bridge_ifindex=3,
                           dnsmasq_pid=None, started_at=1.0)
    store.save_status("n1", status)
    assert store.load_statuses()["n1"].bridge_ifindex == 3
    store.delete_status("n1")
    assert store.load_statuses() == {}
    assert synced == []
