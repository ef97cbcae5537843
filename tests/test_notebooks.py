"""The teaching notebooks: structure (parameters cell, no library code, stored
outputs) and the papermill runner. Executing the real notebooks is CI's job
(``streamnets notebooks`` and ``pytest --nbval-lax notebooks/``), not this file's."""

import ast
import re

import pytest

nbformat = pytest.importorskip("nbformat")

from streamnets.errors import StreamnetsError  # noqa: E402
from streamnets.notebooks import (NotebookError, find_notebooks, notebook_dir,  # noqa: E402
                                  run_notebooks)

NOTEBOOKS = sorted(notebook_dir().glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def python_source(cell):
    """The cell without IPython magics and shell escapes, parseable by ast."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.source.splitlines())


def assigned_names(source):
    names = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_there_are_notebooks():
    prefixes = [p.name[:2] for p in NOTEBOOKS]
    assert prefixes[:4] == ["00", "01", "02", "03"]  # the theory sequence
    assert all(p.isdigit() for p in prefixes) and len(set(prefixes)) == len(prefixes)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_parameters_cell(path):
    first = code_cells(path)[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert {"profile", "seed", "device"} <= assigned_names(first.source)
    namespace = {}
    exec(first.source, namespace)  # plain assignments, safe to run
    assert (namespace["profile"], namespace["seed"], namespace["device"]) == ("ci", 0, "cpu")


TRAINING = [p for p in NOTEBOOKS if "out_dir" in assigned_names(code_cells(p)[0].source)]


def test_training_notebooks_keep_their_runs_where_make_reproduce_does():
    """Notebooks 04-06 write into the main job's folder, so that they show its runs and
    nbval's execution reuses those of papermill's (which runs them in notebooks/)."""
    from streamnets.cli import build_parser

    assert [p.name[:2] for p in TRAINING] == ["04", "05", "06"]
    main_job = build_parser().parse_args(["reproduce", "all"]).out
    for path in TRAINING:
        namespace = {}
        exec(code_cells(path)[0].source, namespace)
        assert (path.parent / namespace["out_dir"]).resolve() == (path.parent.parent / main_job).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_library_code_in_notebooks(path):
    for cell in code_cells(path):
        assert not re.search(r"^(async\s+def|def|class)\s", cell.source, re.MULTILINE), cell.source
        tree = ast.parse(python_source(cell))
        defined = [n for n in tree.body
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defined, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs(path):
    cells = code_cells(path)
    assert all(c.execution_count is not None for c in cells), "notebook is not fully executed"
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    checked = [c for c in cells if CHECK in c.source]
    assert checked, "no cell is checked by nbval"
    assert all(c.outputs for c in checked)
    # nothing volatile: no per-cell timings, no papermill bookkeeping
    assert not [c for c in cells if "execution" in c.metadata or "papermill" in c.metadata]
    text = "".join(o.get("text", "") for c in checked for o in c.outputs)
    assert not re.search(r"0x[0-9a-f]{6,}", text), "memory address in a checked output"


def write_notebook(path, *sources, parameters='profile = "ci"\nseed = 0\ndevice = "cpu"\n'):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


def test_runner_injects_parameters_and_writes_the_executed_copy(tmp_path):
    source = write_notebook(
        tmp_path / "tiny.ipynb",
        'with open("seen.txt", "w") as f:\n    f.write(f"{profile} {seed} {device} {answer}")',
        parameters='profile = "ci"\nseed = 0\ndevice = "cpu"\nanswer = 1\n')
    out = tmp_path / "out"
    [result] = run_notebooks([source], profile="paper", out_dir=out,
                             parameters={"answer": 42, "seed": 7}, progress=False)
    assert (tmp_path / "seen.txt").read_text() == "paper 7 cpu 42"  # ran in the notebook's folder
    assert result.name == "tiny.ipynb" and result.output == out / "tiny.ipynb"
    assert result.parameters == {"profile": "paper", "seed": 7, "device": "cpu", "answer": 42}
    assert result.seconds > 0
    assert [p.name for p in out.iterdir()] == ["tiny.ipynb"]  # no temporary file left
    executed = nbformat.read(result.output, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "answer = 42" in injected[0].source


def test_a_parameter_no_notebook_declares_is_refused_before_any_runs(tmp_path):
    # before: papermill's warning "Passed unknown parameter: mdoe", and the notebook ran
    # on its default
    source = write_notebook(tmp_path / "tiny.ipynb", "open('ran.txt', 'w').close()",
                            parameters='profile = "ci"\nseed = 0\ndevice = "cpu"\nmode = "ok"\n')
    with pytest.raises(StreamnetsError, match=r"no notebook run here has a parameter 'mdoe'; did you "
                                              r"mean 'mode'\? their parameters: device, mode, profile, seed"):
        run_notebooks([source], out_dir=tmp_path / "out", parameters={"mdoe": "fail"}, progress=False)
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "out").exists()


def test_runner_reports_the_failing_notebook(tmp_path):
    good = write_notebook(tmp_path / "a_good.ipynb", "x = 1")
    bad = write_notebook(tmp_path / "b_broken.ipynb", "x = 1", 'raise ValueError("boom 17")')
    out = tmp_path / "out"
    with pytest.raises(StreamnetsError) as info:
        run_notebooks([good, bad], out_dir=out, progress=False)
    message = str(info.value)
    assert isinstance(info.value, NotebookError) and info.value.notebook == "b_broken.ipynb"
    assert "b_broken.ipynb" in message and "ValueError: boom 17" in message
    assert "Traceback" not in message and "\n" not in message
    assert info.value.output == out / "b_broken.ipynb" and info.value.output.is_file()
    assert sorted(p.name for p in out.iterdir()) == ["a_good.ipynb", "b_broken.ipynb"]


def test_an_output_folder_that_is_a_file_is_refused_before_any_notebook_runs(tmp_path):
    source = write_notebook(tmp_path / "tiny.ipynb", "open('ran.txt', 'w').close()")
    (tmp_path / "afile").touch()
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(StreamnetsError, match=r"afile: this is a file, not a folder for the "
                                                  r"executed notebooks; give another output folder"):
            run_notebooks([source], out_dir=out, progress=False)
    assert not (tmp_path / "ran.txt").exists()


def test_notebook_names():
    assert [p.name for p in find_notebooks(["01", "00_quickstart", "02_update_steps_and_tableau.ipynb"])] \
        == ["01_networks_and_rollouts.ipynb", "00_quickstart.ipynb", "02_update_steps_and_tableau.ipynb"]
    assert find_notebooks() == NOTEBOOKS
    with pytest.raises(StreamnetsError, match="choose one of 00_quickstart"):
        find_notebooks(["no_such_notebook"])
    with pytest.raises(StreamnetsError, match="matches several"):
        find_notebooks(["0"])


def test_an_interrupted_notebook_leaves_no_partial_copy(tmp_path, monkeypatch):
    # before: Ctrl-C left .<stem>.<pid>.partial.ipynb behind, one more per interrupted run
    import papermill

    def interrupted(source, partial, **kwargs):
        with open(partial, "w") as f:  # papermill saves the output as it goes
            f.write("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    source = write_notebook(tmp_path / "tiny.ipynb", "x = 1")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_notebooks([source], out_dir=out, progress=False)
    assert list(out.iterdir()) == []



def test_a_partial_copy_of_a_killed_run_is_removed_by_the_next(tmp_path, monkeypatch):
    # a kill (SIGKILL, power loss) gives no chance to clean up: the next run does
    import os
    import subprocess
    import sys
    import time

    import papermill

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # a pid that has just ended
    out = tmp_path / "out"
    out.mkdir()
    left = out / f".tiny.{dead}.partial.ipynb"
    left.write_text("{")
    old = time.time() - 120
    os.utime(left, (old, old))
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda source, partial, **kwargs: open(partial, "w").write("{}"))
    run_notebooks([write_notebook(tmp_path / "tiny.ipynb", "x = 1")], out_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["tiny.ipynb"]
