"""Atomic writes: a failed write leaves the old file and no temporary file."""

from __future__ import annotations

import os
import stat

import pytest

from speechml.io import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_content(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one\n")
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_failure_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.fixture
def umask_022():
    """Run the test under umask 022 (files 0644, directories 0755), then restore the umask."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_files_get_the_umask_mode_not_owner_only(tmp_path, umask_022):
    atomic_write_text(tmp_path / "f.txt", "x\n")
    atomic_write_bytes(tmp_path / "g.bin", b"x")
    assert _mode(tmp_path / "f.txt") == _mode(tmp_path / "g.bin") == 0o644
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.txt", "x\n")
    assert _mode(tmp_path / "private.txt") == 0o600


def test_rewriting_a_file_keeps_its_mode(tmp_path, umask_022):
    target = tmp_path / "run.sh"
    atomic_write_text(target, "one\n")
    target.chmod(0o750)
    atomic_write_text(target, "two\n")
    assert _mode(target) == 0o750 and target.read_text() == "two\n"


def test_atomic_dir_replaces_a_directory_whole_with_the_umask_mode(tmp_path, umask_022):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    assert _mode(target) == 0o755
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_a_failed_atomic_dir_keeps_the_old_directory(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)
