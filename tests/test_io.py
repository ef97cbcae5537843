"""Atomic writes: complete or absent, with the permissions open() would give."""

import os
import stat

import pytest

from streamnets import _io


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, monkeypatch, umask, mode):
    # before: every file was 0600 (mkstemp's mode), so results, checkpoints and figures
    # were unreadable by anyone else on a shared machine whatever the umask
    monkeypatch.setattr(_io, "_UMASK", umask)
    path = _io.atomic_write_text(tmp_path / "results.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "{}" and os.listdir(tmp_path) == ["results.json"]


def test_a_replaced_file_keeps_its_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "_UMASK", 0o022)
    path = tmp_path / "claims.md"
    path.write_text("old")
    path.chmod(0o640)
    _io.atomic_write_bytes(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "new"


def test_the_umask_read_at_import_is_the_process_umask():
    now = os.umask(0o022)
    os.umask(now)
    assert _io._UMASK == now


def test_the_data_reach_the_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    # without fsync a crash right after os.replace can leave an empty checkpoint in place
    target, calls = tmp_path / "run" / "checkpoint.pt", []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append(("replace", str(b))) or real_replace(a, b))
    _io.atomic_write_text(target, "finished epoch")
    assert [c[0] for c in calls] == ["fsync", "replace", "fsync"]
    assert calls[0][1].startswith(str(target.parent / ".checkpoint.pt.")) and calls[2][1] == str(target.parent)
    assert target.read_text() == "finished epoch"


def test_a_failed_flush_keeps_the_old_file_and_a_folder_that_cannot_be_opened_is_no_error(tmp_path,
                                                                                          monkeypatch):
    import errno

    from streamnets.errors import StreamnetsError

    target = tmp_path / "checkpoint.pt"
    target.write_text("epoch 3")

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as m:  # the data may not be on disk: do not put them in place
        m.setattr(os, "fsync", failing_fsync)
        with pytest.raises(StreamnetsError, match="cannot write the file \\(Input/output error\\)"):
            _io.atomic_write_text(target, "epoch 4")
    assert target.read_text() == "epoch 3" and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]

    real_open = os.open

    def no_folders(path, flags, *args):  # as on Windows, or a folder writable but not readable
        if os.path.isdir(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_folders)
    _io.atomic_write_text(target, "epoch 4")  # before: written, then reported as not written
    assert target.read_text() == "epoch 4"


@pytest.mark.skipif(os.name != "posix", reason="pids are checked on POSIX only")
def test_a_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    # before: a process killed inside atomic_writer (SIGKILL, power loss) left its
    # .checkpoint.pt.*.tmp behind for good, one more per kill
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "checkpoint.pt"
    writer = subprocess.Popen([sys.executable, "-c", f"""
from streamnets._io import atomic_writer
import time
with atomic_writer({str(target)!r}) as tmp:
    tmp.write_bytes(b"half")
    print("writing", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    [live] = tmp_path.glob(".checkpoint.pt.*.tmp")
    assert live.name.startswith(f".checkpoint.pt.{writer.pid}.")
    old = time.time() - 120
    os.utime(live, (old, old))
    _io.atomic_write_bytes(target, b"one")  # the writer is alive: its file stays
    assert live.exists()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    other = tmp_path / f".metrics.json.{writer.pid}.abc.tmp"  # another target's: not this write's
    other.write_bytes(b"")
    fresh = tmp_path / f".checkpoint.pt.{writer.pid}.new.tmp"  # changed within the minute: kept
    fresh.write_bytes(b"")
    _io.atomic_write_bytes(target, b"two")
    assert not live.exists() and fresh.exists() and other.exists() and target.read_bytes() == b"two"
