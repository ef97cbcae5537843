"""Atomic file writes: a finished file is either complete or absent, never half-written."""

import glob
import os
import tempfile
import time
from pathlib import Path

from .errors import StreamnetsError

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_writer", "check_output_folder", "writable_folder",
           "remove_stale_temp_files"]


class atomic_writer:
    """Context manager yielding a temp path in the target's folder; on success the
    temp file is renamed onto ``path``, on error it is removed.

    An ``OSError`` (a folder in the way, no space, no permission) becomes a
    :class:`~streamnets.errors.StreamnetsError` that names ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_writer(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.path.parent, self.path.name, ".tmp")
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.",
                                       suffix=".tmp")
        except OSError as err:
            raise _cannot_write(self.path, err) from None
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                _sync_file(self.tmp)  # the data on disk before the rename, or a crash can leave it empty
                os.chmod(self.tmp, _mode_for(self.path))  # mkstemp makes it 0600
                os.replace(self.tmp, self.path)
                _sync_folder(self.path.parent)  # and the rename itself
                return False
            except OSError as err:
                exc = err
        self.tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(self.path, exc) from None
        return False


def remove_stale_temp_files(folder, name, suffix, min_age=60.0):
    """Remove the temp files ``.<name>.<pid>.<...><suffix>`` in ``folder`` that a process
    killed while writing them left behind: its pid is gone, and the file has not
    changed for ``min_age`` seconds (a pid of another machine or container may look
    gone). POSIX only, where a pid can be checked without touching the process.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".checkpoint.pt.999999999.x1y2.tmp").write_bytes(b"half")  # no such pid
    >>> remove_stale_temp_files(folder, "checkpoint.pt", ".tmp", min_age=0)
    1
    """
    if os.name != "posix":
        return 0
    removed, now = 0, time.time()
    for path in Path(folder).glob(f".{glob.escape(name)}.*{suffix}"):
        pid = path.name[len(name) + 2:].partition(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _running(int(pid)):
            continue
        try:
            if now - path.stat().st_mtime >= min_age:
                path.unlink()
                removed += 1
        except OSError:  # gone already, or not ours to remove: it is only litter
            pass
    return removed


def _running(pid):
    """Whether process ``pid`` exists (POSIX: signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none; a number beyond any pid
        return False
    except PermissionError:  # another user's
        return True
    return True


def _sync_file(path):
    """Flush a file's data to disk (an error is an error: the file may be incomplete)."""
    fd = os.open(path, os.O_RDWR)  # Windows flushes only handles open for writing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(path):
    """Flush a folder's entries to disk where the platform can (best effort: the rename
    has happened and is atomic either way; Windows cannot open folders, a folder may
    be writable but not readable)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask():
    mask = os.umask(0o022)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return mask


#: The process's umask at import: files are created with 0o666 & ~umask, as open() does.
_UMASK = _umask()


def _mode_for(path):
    """The permission bits a file written to ``path`` gets: those of the file it
    replaces, else what ``open()`` would give a new file."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _cannot_write(path, err):
    why = err.strerror or str(err)
    return StreamnetsError(f"{path}: cannot write the file ({why}); move what is in the way or write "
                           f"elsewhere (--out, out_dir)")


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_writer(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output_folder(path, holds="checkpoints and metrics"):
    """``path`` as a Path, checked without creating anything: the folder, or the
    nearest one above it that exists, must be a folder this process may write in
    (a :class:`~streamnets.errors.StreamnetsError` otherwise)."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():  # the folder itself or one above it
        raise StreamnetsError(f"{existing}: this is a file, not a folder for {holds}; give another "
                              f"output folder (--out, out_dir)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StreamnetsError(f"{existing}: cannot write {holds} there; give another output folder "
                              f"(--out, out_dir)")
    return path


def writable_folder(path, holds="checkpoints and metrics"):
    """``path`` as a Path, created if need be; a folder that cannot be created or
    written is a :class:`~streamnets.errors.StreamnetsError` now rather than after
    the first epoch of work. ``holds`` says what goes there, for the message."""
    path = check_output_folder(path, holds)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        why = err.strerror or str(err)
        raise StreamnetsError(f"{path}: cannot write {holds} there ({why}); give another output "
                              f"folder (--out, out_dir)") from None
    return path
