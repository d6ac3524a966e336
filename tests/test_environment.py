"""The two install paths (conda's environment.yml and pip's pyproject.toml) list the same
packages, and the README's two commands are the ones the Makefile and CI run."""

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 has no tomllib
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent

# conda-forge name -> pip name; None: no pip twin (a program, or the interpreter itself)
CONDA_TO_PIP = {"pytorch": "torch", "python-graphviz": "graphviz", "graphviz": None,
                "python": None, "pip": None}


def _name(requirement):
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def conda_packages():
    """{pip name: conda spec} from environment.yml's dependencies (a small line parser: the
    file is a flat list, and the test must not need PyYAML)."""
    packages, in_deps = {}, False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_deps = line.startswith("dependencies:")
            continue
        item = line.strip()
        if in_deps and item.startswith("- ") and raw.startswith("  - "):
            spec = item[2:].strip()
            if spec.endswith(":"):  # the "- pip:" sub-list installs the course itself
                continue
            name = _name(spec)
            pip_name = CONDA_TO_PIP.get(name, name)
            if pip_name:
                packages[pip_name] = spec
    return packages


def pip_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("course", "test"):
        reqs += project["optional-dependencies"][extra]
    return {_name(r): r for r in reqs}


def test_both_paths_name_packages():
    assert len(conda_packages()) >= 10 and len(pip_packages()) >= 10


@pytest.mark.parametrize("name", sorted(set(conda_packages()) | set(pip_packages())))
def test_package_is_on_both_paths(name):
    assert name in conda_packages(), f"{name} is in pyproject.toml but not environment.yml"
    assert name in pip_packages(), f"{name} is in environment.yml but not pyproject.toml"


def test_torch_pin_agrees():
    pip = pip_packages()["torch"]
    conda = conda_packages()["torch"]
    assert pip == "torch==2.13.0", "the CPU wheel on disk is torch 2.13.0; keep the pin exact"
    assert conda.split("=", 1)[1] == "2.13.0", conda


def test_readme_opens_with_the_two_commands():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip()]
    commands = [ln.split("#")[0].strip() for ln in lines[1:3]]
    assert commands == ["make lab", "make test"]


def test_makefile_and_ci_run_those_commands():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no '{target}' target"
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.lstrip().startswith("#")]
    assert ci[-1].strip() == "make test"
