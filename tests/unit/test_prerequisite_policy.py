"""A missing prerequisite fails a test unless the developer asked for skips."""

from __future__ import annotations

import pytest

from tests import conftest


def test_missing_prerequisite_fails_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "ALLOW_SKIP", False)
    with pytest.raises(pytest.fail.Exception, match="missing prerequisite: a tool"):
        conftest.require(False, "a tool")
    conftest.require(True, "a tool")  # present: nothing happens


def test_skips_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "ALLOW_SKIP", True)
    with pytest.raises(pytest.skip.Exception, match="missing prerequisite: a tool"):
        conftest.require(False, "a tool")
