"""Locating and reading libvirt's conformance corpus (read in place, never copied).

Search order: ``$VNETD_LIBVIRT_TESTDATA``; ``shared/conformance/libvirt`` beside the
checkout (the repository's parent directory, as in CI and on the dev machine);
``../shared/conformance/libvirt`` relative to the working directory. Without it, the
tests that read it fail (``tests.conftest.require``; they skip only when
VNETD_TESTS_ALLOW_SKIP=1), ``test_corpus_present`` among them, so a run without the
corpus never passes: the parametrised tests have no cases then.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require

REPO_ROOT = Path(__file__).resolve().parents[2]
WHERE_TO_GET = (
    "libvirt conformance corpus not found: set VNETD_LIBVIRT_TESTDATA to a folder with"
    " libvirt-9.0.0/ and modern/ (layout of shared/conformance/libvirt, see its README;"
    " data from https://gitlab.com/libvirt/libvirt tests/), or place it at"
    f" {REPO_ROOT.parent / 'shared/conformance/libvirt'}"
)


def find_corpus() -> Path | None:
    env = os.environ.get("VNETD_LIBVIRT_TESTDATA")
    if env:
        # An explicit setting wins; a wrong one must not silently fall back.
        return Path(env) if (Path(env) / "libvirt-9.0.0").is_dir() else None
    candidates = []
    candidates.append(REPO_ROOT.parent / "shared" / "conformance" / "libvirt")
    candidates.append(Path.cwd().parent / "shared" / "conformance" / "libvirt")
    for candidate in candidates:
        if (candidate / "libvirt-9.0.0").is_dir():
            return candidate
    return None


CORPUS = find_corpus()


def corpus() -> Path:
    """The corpus root, or fail (skip when asked) saying where to get it."""
    require(CORPUS is not None, WHERE_TO_GET)
    assert CORPUS is not None
    return CORPUS


def read_text(path: Path) -> str:
    """Read a corpus file, following symlinks that were stored as text files."""
    for _ in range(8):
        text = path.read_text(encoding="utf-8")
        stripped = text.strip()
        if stripped.startswith("<") or "\n" in stripped or not stripped.endswith(".xml"):
            return text
        path = (path.parent / stripped).resolve()
    raise AssertionError(f"symlink chain too long at {path}")


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a TSV; a header line may start with '# '; other '#' lines are comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header_index = 0
    for index, line in enumerate(lines):
        if line.startswith("# ") and "\t" in line:
            header_index = index
            break
        if line and not line.startswith("#"):
            header_index = index
            break
    header = lines[header_index].lstrip("# ").split("\t")
    body = [line for line in lines[header_index + 1:] if line and not line.startswith("#")]
    return [dict(zip(header, row, strict=False)) for row in csv.reader(body, delimiter="\t")]


def tsv_rows(relative: str) -> list[dict[str, str]]:
    """TSV rows for parametrisation; empty without the corpus (see the module's note)."""
    if CORPUS is None:
        return []
    return read_tsv(CORPUS / relative)


@dataclass
class Tally:
    """Per-suite counts printed at the end of the run by tests/conformance/conftest.py."""

    show_unsupported: bool = False
    passed: int = 0
    total: int = 0
    unsupported: int = 0
    names: set[str] = field(default_factory=set)

    def line(self, suite: str) -> str:
        text = f"conformance {suite}: {self.passed}/{self.total} passed"
        if self.show_unsupported:
            text += f", {self.unsupported} declared unsupported"
        return text


TALLIES: dict[str, Tally] = {}
