"""Where data sets are looked for, and the error raised when they are missing.

Lookup order for every real data set:

1. the explicit ``root`` argument (its data-set sub-folders first, then ``root``
   itself),
2. the folder named by the environment variable ``$STREAMNETS_DATA``,
3. the repository's ``data/`` folder (the folder ``data/`` next to the
   ``streamnets`` package folder), if it exists,
4. the user cache ``~/.cache/streamnets``,
5. known system paths (e.g. ``/usr/share/datasets/fashion-mnist``, where Debian's
   package ``dataset-fashion-mnist`` puts Fashion-MNIST).

Below each base folder a data set is looked for in its own sub-folders (e.g.
``mnist/`` or torchvision's ``MNIST/raw/``), so one data folder can hold them all.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

__all__ = [
    "ENV_VAR",
    "REPO_DATA_DIR",
    "CACHE_DIR",
    "base_dirs",
    "candidate_dirs",
    "download_dir",
    "missing_error",
    "partial_copies",
]

#: Environment variable naming a data folder.
ENV_VAR = "STREAMNETS_DATA"

#: The repository's ``data/`` folder (used only if it exists).
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

#: Per-user cache folder, used for downloads when no other folder is available.
CACHE_DIR = Path.home() / ".cache" / "streamnets"


def base_dirs(root=None):
    """Base folders to search, in lookup order, as ``(path, origin)`` pairs.

    Parameters
    ----------
    root : str or path-like, optional
        Explicit data folder; searched first.

    Returns
    -------
    list of (pathlib.Path, str)
        ``origin`` says where the folder came from (``"root"``, ``"$STREAMNETS_DATA"``,
        ``"repository data/"`` or ``"user cache"``).
    """
    bases = []
    if root is not None:
        bases.append((Path(root).expanduser(), "root"))
    env = os.environ.get(ENV_VAR)
    if env:
        bases.append((Path(env).expanduser(), "$" + ENV_VAR))
    if REPO_DATA_DIR.is_dir():
        bases.append((REPO_DATA_DIR, "repository data/"))
    bases.append((CACHE_DIR, "user cache"))
    return bases


def candidate_dirs(root, subdirs, system_dirs=()):
    """Every folder a data set may be in, in lookup order, without duplicates.

    Parameters
    ----------
    root : str or path-like or None
        Explicit data folder. Its sub-folders ``subdirs`` are searched first, then
        ``root`` itself.
    subdirs : sequence of str
        Sub-folders of a base folder that may hold the data set (e.g. ``"mnist"``).
    system_dirs : sequence of str
        Absolute system folders searched last.

    Returns
    -------
    list of pathlib.Path
    """
    out = []
    for base, origin in base_dirs(root):
        out.extend(base / s for s in subdirs)
        if origin == "root":
            out.append(base)
    out.extend(Path(s) for s in system_dirs)
    seen, unique = set(), []
    for p in out:
        key = os.path.normpath(str(p))
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def partial_copies(folders, names, exists=None):
    """``[(folder, "<folder> has A, B but not C")]`` for every folder that holds some,
    but not all, of the files ``names``; ``exists(folder, name)`` says whether one is
    there (default: a plain file of that name).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a").write_bytes(b"")
    >>> [note.split(" has ")[1] for _, note in partial_copies([folder], ["a", "b"])]
    ['a but not b']
    """
    exists = exists or (lambda folder, name: (folder / name).is_file())
    found = []
    for folder in folders:
        have = [n for n in names if exists(folder, n)]
        if have and len(have) < len(names):
            found.append((folder, f"{folder} has {', '.join(have)} but not "
                                  f"{', '.join(n for n in names if n not in have)}"))
    return found


def download_dir(root, subdir):
    """The folder that ``download=True`` writes a data set into.

    The first of: ``root``, ``$STREAMNETS_DATA``, the repository's ``data/``
    folder, ``~/.cache/streamnets``; joined with ``subdir``.
    """
    base = base_dirs(root)[0][0]
    return base / subdir


def missing_error(title, looked, need, target, extra="", root=None):
    """Build the :class:`~streamnets.errors.DataError` for a missing data set.

    Parameters
    ----------
    title : str
        Data set name for humans, e.g. ``"MNIST"``.
    looked : sequence of path-like
        Every folder that was searched.
    need : sequence of str
        The files (or folders) that make up the data set.
    target : path-like
        The folder the user should put the files into (also where ``download=True``
        would write them); its last component is the data set's sub-folder of a
        data folder (e.g. ``mnist``).
    extra : str, optional
        Additional detail, e.g. which file was missing in a partial copy.
    root : str or path-like, optional
        The explicit data folder, if any: the message says when it does not exist
        or is a file (a typo in ``root`` is the usual cause).
    """
    places = "\n".join(f"  - {p}" for p in looked)
    files = ", ".join(need)
    notes = [n for n in (_root_note(root), extra) if n]
    msg = (
        f"{title} not found. Looked in:\n{places}\n"
        + "".join(n + "\n" for n in notes)
        + f"To fix: pass download=True (on the command line add --download), "
        f"or put the files {files} in {target} "
        f"(or in the sub-folder {Path(target).name}/ of a folder named by ${ENV_VAR})."
    )
    return DataError(msg)


def _root_note(root):
    """A note when the folder the files should go into (``root``, else the one
    ``$STREAMNETS_DATA`` names) does not exist or is a file (usually a typo)."""
    if root is not None:
        path, what = Path(root).expanduser(), "The root"
    elif os.environ.get(ENV_VAR):
        path, what = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        return ""
    if not path.exists():
        return f"{what} folder {path} does not exist (is the path right?)."
    if not path.is_dir():
        return f"{what} {path} is a file, not a folder."
    return ""
