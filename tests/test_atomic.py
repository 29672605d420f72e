"""The one atomic-write helper: whole files or none, never an earlier file clobbered."""
import os

import pytest

from sentiment_neuron.atomic import atomic_open, atomic_write, atomic_write_bytes, atomic_write_text, remove_stale_temps


def test_writes_whole_files_and_creates_folders(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write_text(path, "café\n") == path
    assert path.read_bytes() == "café\n".encode("utf-8")
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, lambda tmp: open(tmp, "w").write("by path"))
    assert path.read_text() == "by path"
    assert os.listdir(path.parent) == ["out.txt"]


def test_a_failure_keeps_the_earlier_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("good\n")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    with pytest.raises(ValueError):
        with atomic_open(path, "w") as f:
            f.write("half a row")
            raise ValueError("bad row")
    assert path.read_text() == "good\n"
    assert os.listdir(tmp_path) == ["out.csv"]
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "new.npy", fail)
    assert os.listdir(tmp_path) == ["out.csv"]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_remove_stale_temps_removes_only_the_temps_of_that_path(tmp_path):
    target = tmp_path / "model.safetensors"
    atomic_write_text(target, "good")
    stale = [tmp_path / ".model.safetensors.dead1234.tmp", tmp_path / ".step-000000007.pt.beef0001.tmp"]
    other = tmp_path / ".config.json.cafe0000.tmp"
    for path in (*stale, other):
        path.write_text("half")
    assert remove_stale_temps(target) == 1
    assert remove_stale_temps(tmp_path / "step-*.pt") == 1
    assert not any(p.exists() for p in stale)
    assert other.exists()
    assert target.read_text() == "good"
    assert remove_stale_temps(tmp_path / "missing" / "x.json") == 0


def test_a_writer_that_recreates_the_file_gets_the_usual_mode(tmp_path):
    # safetensors' save_file recreates its file with mode 0o600: installed models were unreadable to others
    import os
    import stat

    from sentiment_neuron.atomic import atomic_write

    def recreate(tmp):
        os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"data")
        os.close(fd)

    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    atomic_write(tmp_path / "made", recreate)
    assert (tmp_path / "made").read_bytes() == b"data"
    assert stat.S_IMODE(os.stat(tmp_path / "made").st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
