"""pkverify.io: the one place files are written (atomic, umask-honouring, checked first)."""

from __future__ import annotations

import os
import stat

import pytest

from pkverify import io as pio
from pkverify.errors import InvalidArgumentError, OutputFileError


def test_atomic_write_creates_parents_and_honours_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = pio.atomic_write_text(tmp_path / "a" / "b" / "r.txt", "héllo")
        # 0o666 & ~0o027 = 0o640: what open(path, "w") would have given
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    finally:
        os.umask(old)
    assert path.read_text(encoding="utf-8") == "héllo"
    assert pio.umask() == old  # reading the umask leaves it as it was


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = pio.atomic_write_text(tmp_path / "r.txt", "old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pio.os, "replace", refuse)
    with pytest.raises(OutputFileError, match="No space left.*nothing was written"):
        pio.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


@pytest.mark.parametrize("bad", [None, 3, "", "  ", ["a"]])
def test_as_path_refuses_non_paths(bad):
    with pytest.raises(InvalidArgumentError):
        pio.as_path(bad)


def test_check_writable_writes_nothing(tmp_path):
    target = tmp_path / "new" / "deeper" / "r.json"
    assert pio.check_writable(target) == target
    assert not (tmp_path / "new").exists()  # a check, not a write


def test_check_writable_refuses_a_file_as_a_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputFileError, match="is a file, not a directory"):
        pio.check_writable(tmp_path / "f" / "deeper" / "r.json")
