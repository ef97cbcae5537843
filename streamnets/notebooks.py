"""Run the teaching notebooks (``notebooks/*.ipynb``) with papermill.

Every notebook starts with a cell tagged ``parameters`` that defines at least
``profile``, ``seed`` and ``device``; :func:`run_notebooks` injects new values
for them (and any extra parameters), executes each notebook in its own folder
and writes the executed copy to an output folder, atomically. A notebook that
fails raises :class:`NotebookError`, whose one-line message names the notebook,
the cell and the error (the full traceback stays in the executed copy).

The stored notebooks are checked by ``pytest --nbval-lax notebooks/``: cells
marked ``# NBVAL_CHECK_OUTPUT`` must reproduce their stored output exactly.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import time
from pathlib import Path
from typing import NamedTuple

from ._io import remove_stale_temp_files, writable_folder
from .errors import SettingError, StreamnetsError

__all__ = ["NotebookError", "NotebookResult", "notebook_dir", "find_notebooks", "run_notebooks"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(StreamnetsError, RuntimeError):
    """A notebook could not be executed, or a cell of it raised an error.

    Attributes
    ----------
    notebook : str
        The notebook's file name.
    cell : int or None
        The execution count of the failing cell (``In [cell]``), if known.
    output : pathlib.Path or None
        The executed copy holding the full traceback, if one was written.
    """

    def __init__(self, message, notebook, cell=None, output=None):
        self.notebook = notebook
        self.cell = cell
        self.output = output
        super().__init__(message)


class NotebookResult(NamedTuple):
    """One executed notebook.

    ``name`` is the file name, ``source`` the notebook that was run, ``output``
    the executed copy, ``seconds`` the wall-clock time of the run and
    ``parameters`` the values injected into its ``parameters`` cell.
    """

    name: str
    source: Path
    output: Path
    seconds: float
    parameters: dict


def notebook_dir():
    """The repository's ``notebooks/`` folder.

    Looks next to the installed package first (an editable install or a
    checkout), then in the current directory and its parents.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StreamnetsError
        No ``notebooks/`` folder with ``.ipynb`` files was found.

    Examples
    --------
    >>> from streamnets.notebooks import notebook_dir
    >>> notebook_dir().name
    'notebooks'
    """
    cwd = Path.cwd()
    candidates = [Path(__file__).resolve().parent.parent / "notebooks"]
    candidates += [folder / "notebooks" for folder in (cwd, *cwd.parents)]
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise StreamnetsError("no notebooks/ folder with .ipynb files found next to the streamnets "
                          "package or above the current directory; run from a checkout of the "
                          "streamnets repository or pass notebook paths")


def find_notebooks(names=None):
    """The notebooks to run, as paths.

    Parameters
    ----------
    names : iterable of str or path, optional
        Each entry is a path to an ``.ipynb`` file, or a notebook of
        :func:`notebook_dir` given by file name (``"01_networks_and_rollouts.ipynb"``),
        stem (``"01_networks_and_rollouts"``) or unique prefix (``"01"``).
        By default all notebooks of :func:`notebook_dir`, sorted by name.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    StreamnetsError
        A name matches no notebook, or a prefix matches several.

    Examples
    --------
    >>> from streamnets.notebooks import find_notebooks
    >>> [p.name for p in find_notebooks(["00"])]
    ['00_quickstart.ipynb']
    """
    if isinstance(names, (str, os.PathLike)):
        names = [names]
    if names is None:
        return sorted(p for p in notebook_dir().glob("*.ipynb") if not p.name.startswith("."))
    found = []
    available = None
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            found.append(path)
            continue
        if available is None:
            available = sorted(p for p in notebook_dir().glob("*.ipynb") if not p.name.startswith("."))
        text = str(name)
        matches = [p for p in available if text in (p.name, p.stem)]
        if not matches:
            matches = [p for p in available if p.name.startswith(text)]
        if len(matches) != 1:
            what = "matches several notebooks" if matches else "is not a notebook"
            raise StreamnetsError(f"{text!r} {what}; choose one of "
                                  f"{', '.join(p.stem for p in (matches or available))}")
        found.append(matches[0])
    return found


def _cell_failure(exc, path, output):
    """A one-line NotebookError from papermill's PapermillExecutionError."""
    evalue = _ANSI.sub("", str(getattr(exc, "evalue", "") or "")).strip()
    ename = getattr(exc, "ename", None) or type(exc).__name__
    count = getattr(exc, "exec_count", None)
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    first = next((line.strip() for line in source if line.strip() and not line.startswith("#")), "")
    where = f"cell In[{count}]" if count is not None else "a cell"
    if first:
        where += f" ({first[:60]}{'...' if len(first) > 60 else ''})"
    error = f"{ename}: {evalue}" if evalue else ename
    return NotebookError(f"notebook {path.name} failed in {where}: {error}; the executed copy "
                         f"with the full traceback is {output}", path.name, count, output)


def _check_parameters(papermill, paths, given):
    """A SettingError for a parameter that none of the notebooks at ``paths`` declares in its
    parameters cell (a typo: papermill would only warn, and the notebooks would run on their
    defaults). A parameter some of them declare is fine: the others ignore it."""
    declared = set()
    for path in paths:
        declared |= set(papermill.inspect_notebook(str(path)))
    unknown = sorted(set(given) - declared)
    if unknown:
        close = difflib.get_close_matches(unknown[0], declared, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SettingError(f"no notebook run here has a parameter {unknown[0]!r}; {hint}their "
                           f"parameters: {', '.join(sorted(declared))}")


def run_notebooks(names=None, profile="ci", out_dir="runs/notebooks", parameters=None,
                  kernel="python3", progress=True):
    """Execute notebooks with papermill and write the executed copies to ``out_dir``.

    Parameters
    ----------
    names : iterable of str or path, optional
        Which notebooks (see :func:`find_notebooks`); default: all of
        ``notebooks/``, in sorted order.
    profile : str
        Injected as the ``profile`` parameter (``"ci"``: quick; ``"paper"``:
        the larger sweeps).
    out_dir : str or path
        Folder for the executed copies (created if needed); each is written
        under a temporary name and renamed when complete. A notebook that fails
        is still written there, with its traceback.
    parameters : dict, optional
        Further parameters to inject; ``seed`` (default 0) and ``device``
        (default ``"cpu"``) may be set here. ``profile`` always comes from the
        argument of that name.
    kernel : str
        The Jupyter kernel to run the notebooks with.
    progress : bool
        Show papermill's progress bar and print one line per notebook to stderr.

    Returns
    -------
    list of NotebookResult
        One per notebook, in the order run.

    Raises
    ------
    NotebookError
        A notebook failed: the message names it, the failing cell and the
        error; the notebooks after it are not run.
    StreamnetsError
        A notebook name is unknown, or papermill is not installed.

    Examples
    --------
    >>> from streamnets.notebooks import run_notebooks
    >>> results = run_notebooks(["00_quickstart"], out_dir="/tmp/nb")   # doctest: +SKIP
    >>> [(r.name, r.output.name) for r in results]                      # doctest: +SKIP
    [('00_quickstart.ipynb', '00_quickstart.ipynb')]
    >>> run_notebooks(parameters={"seed": 3}, progress=False)           # doctest: +SKIP
    """
    try:
        import papermill
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover - papermill is in the dev extra
        raise StreamnetsError("running notebooks needs papermill; install it with "
                              "pip install papermill (or pip install -e '.[dev]')") from None
    paths = find_notebooks(names)
    _check_parameters(papermill, paths, dict(parameters or {}))
    values = {"seed": 0, "device": "cpu", **dict(parameters or {}), "profile": profile}
    out_dir = writable_folder(out_dir, "the executed notebooks")
    results = []
    for k, path in enumerate(paths, start=1):
        output = out_dir / path.name
        remove_stale_temp_files(out_dir, path.stem, ".partial.ipynb")  # of a killed earlier call
        partial = out_dir / f".{path.stem}.{os.getpid()}.partial.ipynb"
        if progress:
            print(f"[{k}/{len(paths)}] {path.name} (profile {profile})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(path), str(partial), parameters=values,
                                       kernel_name=kernel, progress_bar=progress,
                                       cwd=str(path.parent.resolve()))
        except PapermillExecutionError as exc:
            os.replace(partial, output)
            raise _cell_failure(exc, path, output) from None
        except KeyboardInterrupt:  # papermill has written part of it: leave no stray copy
            partial.unlink(missing_ok=True)
            raise
        except Exception as exc:
            if partial.exists():
                partial.unlink()
            message = _ANSI.sub("", str(exc)).strip().splitlines()
            raise NotebookError(f"notebook {path.name} could not be run with kernel {kernel!r}: "
                                f"{type(exc).__name__}: {message[0] if message else ''}",
                                path.name) from None
        seconds = time.perf_counter() - start
        os.replace(partial, output)
        if progress:
            print(f"[{k}/{len(paths)}] {path.name}: ok in {seconds:.1f} s -> {output}",
                  file=sys.stderr, flush=True)
        results.append(NotebookResult(path.name, path, output, seconds, dict(values)))
    return results
