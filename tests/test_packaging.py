"""The two install routes (pip via pyproject.toml, conda via environment.yml) agree."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "pyyaml": "pyyaml"}


def _split(requirement):
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
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
