"""Verified, resumable downloads (urllib only) and safe archive extraction.

A :class:`Resource` names a file, its official URLs and, where known for sure,
its SHA-256 and size. :func:`fetch` downloads it into a ``<name>.part`` file next
to the target, resumes an interrupted ``.part`` file with an HTTP ``Range``
request (a ``.part`` file that already passes the check is used as it is),
verifies it and only then moves it into place with :func:`os.replace`,
so the target is either absent or complete. A file whose checksum does not match
is deleted and fetched again from the next URL (once more from the same one if it
is the only one); when every URL gave a wrong file (a single URL: twice), that is a
:class:`~streamnets.errors.DataError`. Downloads and extractions into one folder
hold an exclusive lock on that folder (``flock``, where the platform has it), so
two processes fetching the same data set take turns: the second finds the file
complete instead of writing into the first one's ``.part`` file.

Where a resource has no SHA-256 (``sha256=None``), the check is size-only (when
the size is known) and the data set's loader then checks the format while
parsing it.

Tests and users behind a proxy can redirect downloads with :data:`MIRRORS`:
``MIRRORS["mnist"] = ["http://127.0.0.1:8000/"]`` makes every MNIST file be
fetched from that base URL instead of the official ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no folder locks, concurrent downloads are not guarded
    fcntl = None

from ..errors import DataError

__all__ = [
    "Resource",
    "MIRRORS",
    "USER_AGENT",
    "fetch",
    "sha256sum",
    "urls_for",
    "extract_archive",
    "fetch_and_extract",
]

#: ``{data set key: [base URL, ...]}``; a non-empty entry replaces the official
#: base URLs of that data set (the file name is appended to each base URL).
MIRRORS: dict[str, list[str]] = {}

#: Sent with every request (some servers refuse urllib's default agent).
USER_AGENT = "streamnets-data/0.1 (+urllib)"

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Resource:
    """One downloadable file.

    Parameters
    ----------
    filename : str
        Name of the file on disk (and the last URL component).
    urls : tuple of str
        Official URLs, tried in order.
    sha256 : str or None
        Hex SHA-256 of the file, or None where it is not known for sure (then the
        check is size-only if ``size`` is given, and format-only otherwise).
    size : int or None
        Size in bytes, if known for sure.
    key : str
        Data set key used to look up :data:`MIRRORS`.
    """

    filename: str
    urls: tuple
    sha256: str | None = None
    size: int | None = None
    key: str = ""


def sha256sum(path):
    """Hex SHA-256 of a file, read in chunks.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "abc.txt")
    ...     _ = path.write_bytes(b"abc")
    ...     print(sha256sum(path))
    ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def urls_for(resource, urls=None):
    """The URLs to try for ``resource``: ``urls``, else :data:`MIRRORS`, else official.

    ``urls`` and mirror entries ending in ``/`` are base URLs (the file name is
    appended); others are used as they are.
    """
    bases = urls or MIRRORS.get(resource.key) or None
    if not bases:
        return list(resource.urls)
    if isinstance(bases, str):
        bases = [bases]
    return [b + resource.filename if b.endswith("/") else b for b in bases]


def _verify(path, resource):
    """Return None if ``path`` matches ``resource``, else what is wrong."""
    size = os.path.getsize(path)
    if resource.size is not None and size != resource.size:
        return f"size {size} bytes, expected {resource.size}"
    if resource.sha256 is not None:
        got = sha256sum(path)
        if got != resource.sha256.lower():
            return f"SHA-256 {got}, expected {resource.sha256}"
    return None


def _writable_dir(dest_dir):
    """Create ``dest_dir`` if needed; raise DataError if it cannot be written."""
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the download folder {dest_dir} ({e.strerror or e}); "
                        "pass a root that is a writable folder") from e
    if not os.access(dest_dir, os.W_OK | os.X_OK):
        raise DataError(f"cannot write into the download folder {dest_dir} (permission denied); "
                        "pass a root that is a writable folder")
    return dest_dir


@contextlib.contextmanager
def _locked(folder):
    """Hold an exclusive lock on ``folder`` (a no-op where ``flock`` is missing); yields
    False when the folder was removed while we waited (its failed first download
    removed it): the caller makes it again and retries."""
    if fcntl is None:
        yield True
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield os.fstat(fd).st_nlink > 0
    finally:
        os.close(fd)  # closing releases the lock


def _download_once(url, part, timeout):
    """Download ``url`` into ``part``, resuming it if it is non-empty.

    Raises the underlying error (URLError, HTTPError, IncompleteRead, OSError) so
    the caller can decide to retry; the partial file is kept for resuming.
    """
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # range not satisfiable: start over
            total = e.headers.get("Content-Range", "") if e.headers else ""
            e.close()  # an HTTPError holds the connection open until closed
            if total.replace(" ", "") == f"bytes*/{have}":  # the part file is complete already
                return  # (a resource without size or SHA-256, killed before its rename)
            part.unlink()
            return _download_once(url, part, timeout)
        raise
    with resp:
        status = getattr(resp, "status", 200)
        resume = bool(have) and status == 206
        if resume and not _range_starts_at(resp.headers.get("Content-Range"), have):
            resume = False  # server answered another range: start over
            resp.close()
            part.unlink()
            return _download_once(url, part, timeout)
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        got = 0
        with open(part, "ab" if resume else "wb") as f:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
        if expected is not None and got < expected:
            # http.client returns b"" on an early close; make it an error so the
            # caller resumes the partial file with a Range request.
            raise http.client.IncompleteRead(b"", expected - got)


def _range_starts_at(content_range, start):
    """Whether a ``Content-Range: bytes a-b/n`` header starts at byte ``start``."""
    if not content_range:
        return False
    try:
        unit, spec = content_range.split(" ", 1)
        return unit == "bytes" and int(spec.split("-", 1)[0]) == start
    except ValueError:
        return False


def fetch(resource, dest_dir, *, urls=None, timeout=60.0, retries=3):
    """Download ``resource`` into ``dest_dir`` (if not there already) and verify it.

    Parameters
    ----------
    resource : Resource
    dest_dir : str or path-like
        Target folder; created if needed.
    urls : str or list of str, optional
        Base URLs overriding :data:`MIRRORS` and the official URLs.
    timeout : float
        Socket timeout in seconds.
    retries : int
        How many times an interrupted transfer is resumed per URL.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    DataError
        No URL could be fetched, or every URL gave a file that fails its check.
    """
    dest_dir = Path(dest_dir)
    while True:
        new_folders = _missing_folders(dest_dir)
        _writable_dir(dest_dir)
        with _locked(dest_dir) as there:
            if not there:
                continue
            try:
                return _fetch_locked(resource, dest_dir, urls, timeout, retries)
            except DataError:
                # An empty folder left behind would read as a data set that is there but
                # broken; removed under the lock, which a waiting fetch then sees.
                for folder in new_folders:  # deepest first; a partial download keeps its folder
                    try:
                        folder.rmdir()
                    except OSError:
                        break
                raise


def _missing_folders(folder):
    """The folders that creating ``folder`` makes, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _fetch_locked(resource, dest_dir, urls, timeout, retries):
    target = dest_dir / resource.filename
    part = dest_dir / (resource.filename + ".part")
    if target.exists():
        if _verify(target, resource) is None:
            return target
        # else refetch; the file stays until a verified download replaces it (it may be a
        # valid copy compressed differently, e.g. Debian's, and the download may fail)
    if (part.exists() and (resource.sha256 is not None or resource.size is not None)
            and _verify(part, resource) is None):  # complete, but killed before its rename
        os.replace(part, target)
        return target
    candidates = urls_for(resource, urls)
    if not candidates:
        raise DataError(f"no URL to download {resource.filename} from; pass urls=, set "
                        f"streamnets.data.download.MIRRORS[{resource.key!r}], or put the file in {dest_dir}")
    mismatch, order, corrupt_from = None, list(candidates), []
    # another attempt only after a checksum mismatch, starting at the next URL (a mirror
    # that answers with the wrong file must not hide the others); a single URL twice
    for attempt in range(max(2, len(candidates))):
        errors = []
        done = False
        for url in order:
            for _ in range(retries + 1):
                try:
                    _download_once(url, part, timeout)
                    done = True
                    break
                except urllib.error.HTTPError as e:
                    errors.append(f"{url}: HTTP {e.code} {e.reason}")
                    e.close()
                    break  # a server answer: try the next URL
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                    errors.append(f"{url}: interrupted ({type(e).__name__}); resuming")
                    continue  # resume with a Range request
                except (urllib.error.URLError, OSError) as e:
                    errors.append(f"{url}: {getattr(e, 'reason', e)}")
                    break
                except http.client.HTTPException as e:  # not HTTP (e.g. a bad status line)
                    errors.append(f"{url}: not a valid HTTP answer ({e!r})")
                    break
                except ValueError as e:  # malformed URL, e.g. a mirror without http://
                    errors.append(f"{url}: {e}")
                    break
            if done:
                break
        if not done:
            raise DataError(
                f"could not download {resource.filename} into {dest_dir}:\n  "
                + "\n  ".join(errors)
                + f"\nTo fix: check the network (or set streamnets.data.download.MIRRORS), "
                f"or download the file by hand from {candidates[0]} and put it in {dest_dir}."
            )
        mismatch = _verify(part, resource)
        if mismatch is None:
            os.replace(part, target)
            return target
        part.unlink()
        corrupt_from.append(url)
        i = order.index(url) + 1
        order = order[i:] + order[:i]
    times = "twice" if len(corrupt_from) == 2 else f"{len(corrupt_from)} times"
    raise DataError(
        f"{dest_dir / resource.filename}: downloaded {times} from {', '.join(dict.fromkeys(corrupt_from))} "
        f"but the file is corrupt ({mismatch}). To fix: download it by hand and put it in {dest_dir}, "
        "or try again later."
    )


def _safe_members(names, dest):
    dest = os.path.realpath(dest)
    for name in names:
        full = os.path.realpath(os.path.join(dest, name))
        if full != dest and not full.startswith(dest + os.sep):
            raise DataError(f"archive member {name!r} would be written outside {dest}; not extracting")


def extract_archive(archive, dest_dir):
    """Extract a ``.zip`` or ``.tar(.gz)`` archive into ``dest_dir`` safely.

    Members are extracted into a temporary folder inside ``dest_dir`` and then
    moved into place, so an interrupted extraction leaves no half-written tree.
    Members that would land outside ``dest_dir`` raise
    :class:`~streamnets.errors.DataError`.
    """
    archive, dest_dir = Path(archive), _writable_dir(Path(dest_dir))
    with _locked(dest_dir):
        _extract_locked(archive, dest_dir)
    return dest_dir


def fetch_and_extract(resource, dest_dir, folder, *, urls=None):
    """Download ``resource`` into ``dest_dir``, extract it there, return ``dest_dir / folder``.

    Raises :class:`~streamnets.errors.DataError` when the archive holds no ``folder``.
    """
    archive = fetch(resource, dest_dir, urls=urls)
    extract_archive(archive, dest_dir)
    path = Path(dest_dir) / folder
    if not path.is_dir():
        raise DataError(f"{archive}: archive has no {folder}/ folder; delete it and download again")
    return path


def _extract_locked(archive, dest_dir):
    for stale in dest_dir.glob(f".extract-{archive.name}.*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{archive.name}.", suffix=".tmp", dir=dest_dir))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _safe_members(z.namelist(), tmp)
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                _safe_members(t.getnames(), tmp)
                try:
                    t.extractall(tmp, filter="data")
                except TypeError:  # Python without extraction filters (< 3.10.12, 3.11.4):
                    # _safe_members checks names only, so a link could still lead out
                    odd = [m.name for m in t.getmembers() if not (m.isfile() or m.isdir())]
                    if odd:
                        raise DataError(f"{archive}: holds links or special files ({', '.join(odd[:3])}), "
                                        "which this Python cannot extract safely; not extracting") from None
                    t.extractall(tmp)
        else:
            raise DataError(f"{archive}: not a zip or tar archive; delete it and download again")
        for entry in tmp.iterdir():
            final = dest_dir / entry.name
            if final.is_dir() and entry.is_dir():
                _merge_tree(entry, final)
            else:
                os.replace(entry, final)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:  # zlib: bad deflate data
        raise DataError(f"{archive}: corrupt archive ({e}); delete it and download again") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge_tree(src, dst):
    for entry in src.iterdir():
        final = dst / entry.name
        if entry.is_dir() and final.is_dir():
            _merge_tree(entry, final)
        else:
            if final.is_dir():
                shutil.rmtree(final)
            os.replace(entry, final)
