"""Packaging and the README: the two install routes (pip via pyproject.toml, conda via
environment.yml) agree, and the README's commands and examples are the ones that work."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "pyyaml": "pyyaml"}


def _split(requirement):
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    # tomllib is Python 3.11+; on 3.10 (which the package supports) this one test is skipped
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    wanted = {CONDA_NAMES.get(n, n): spec for n, spec in wanted.items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    conda.pop("python"), conda.pop("pip")
    assert conda == wanted


def test_quick_start_has_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make reproduce", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_submodules_load_on_first_use_and_the_theory_needs_no_torch():
    # before: sn.theory raised AttributeError unless something had imported it
    code = ("import sys, streamnets as sn; "
            "assert tuple(sn.theory.count_patterns(sn.load('fig2'))) == sn.paper.FIG2_COUNTS; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert sn.data.load.__module__ == 'streamnets.data.registry'; "
            "assert 'torch' in sys.modules; "
            "assert not hasattr(sn, 'no_such_module')")
    subprocess.run([sys.executable, "-c", code], check=True)


def _readme_python_blocks():
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", readme, re.S)


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_the_readme_python_examples_run_and_print_what_they_show(index, capsys):
    block = _readme_python_blocks()[index]
    exec(compile(block, f"README.md python block {index + 1}", "exec"), {})
    # lines that are only a comment after the code are the output it shows
    code_lines = block.rstrip("\n").splitlines()
    shown = []
    while code_lines and code_lines[-1].startswith("# "):
        shown.insert(0, code_lines.pop()[2:])
    assert capsys.readouterr().out.splitlines() == shown


def _make_stamp(*assignments):
    """The STAMP `make install` would look for with these variables (a dry run)."""
    out = subprocess.run(["make", "-pn", "install", *assignments], cwd=ROOT, capture_output=True,
                         text=True).stdout
    return next(line.split(" := ", 1)[1] for line in out.splitlines() if line.startswith("STAMP := "))


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode, reason="no make")
def test_another_torch_or_python_rebuilds_the_venv():
    # before: .venv/.installed ignored a later TORCH= or PYTHON=, and kept the first build
    default = _make_stamp()
    assert default.startswith(".venv/.installed-") and _make_stamp() == default
    assert len({default, _make_stamp("TORCH=torch"), _make_stamp("PYTHON=python3.11")}) == 3
