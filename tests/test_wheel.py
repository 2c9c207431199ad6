"""The wheel on its own: built from a copy of the sources, installed with its dependencies into a fresh
virtualenv outside the checkout, and run from a directory outside it, so only what the wheel ships is used.

Slow (a build and an install; the pip cache keeps the second run short): `-m "not slow"` leaves it out.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from locations import EXAMPLES_DIR, ROOT

pytestmark = pytest.mark.slow

# Left out of the copy that is built: local state of the checkout, not sources.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "release", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis")
# Sources that the wheel ships, by their path in the source tree -> their path in the wheel.
DATA_FOLDERS = {"ontology": "kg/data/ontology", "shapes": "kg/data/shapes", "queries": "kg/data/queries"}


@dataclass(frozen=True)
class Installed:
    source: Path  # the copy the wheel was built from
    names: frozenset[str]  # the wheel's members
    bin: Path  # the virtualenv's bin/
    work: Path  # the working directory of every command, outside the checkout
    env: dict[str, str]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    assert ROOT.resolve() not in tmp.resolve().parents, "the wheel test must run outside the checkout"
    # Build from a copy: a concurrent edit cannot change the wheel halfway, and no build/ is left behind.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", source, "-w", tmp / "dist"])
    [wheel] = (tmp / "dist").glob("*.whl")
    # An empty virtualenv; the pip of this environment installs into it (--python), dependencies from the index.
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", wheel], env=env)
    work = tmp / "work"
    work.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        names = frozenset(archive.namelist())
    return Installed(source, names, venv / "bin", work, env)


def acr_kg(installed: Installed, *args) -> subprocess.CompletedProcess:
    return _run([installed.bin / "acr-kg", *args], cwd=installed.work, env=installed.env)


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


# --- what the wheel holds ---------------------------------------------------------------------------

def test_wheel_holds_every_module_of_kg(installed):
    modules = {p.relative_to(installed.source).as_posix() for p in (installed.source / "kg").rglob("*.py")}
    assert sorted(modules - installed.names) == [], "a package of kg/ is missing from pyproject's packages list"
    assert "kg/py.typed" in installed.names


def test_wheel_holds_the_data_files(installed):
    # every file of the data folders (Turtle, queries, the SSSOM set, tables), and any JSON schema of kg/
    expected = set()
    for folder, target in DATA_FOLDERS.items():
        root = installed.source / folder
        expected |= {f"{target}/{p.relative_to(root).as_posix()}" for p in root.rglob("*")
                     if p.is_file() and not p.name.startswith(".")}
    expected |= {p.relative_to(installed.source).as_posix() for p in (installed.source / "kg").rglob("*.json")}
    assert {"kg/data/ontology/acr-kg.ttl", "kg/data/ontology/mappings/acr-kg.sssom.tsv",
            "kg/data/queries/qc/duplicate-rating.rq", "kg/data/shapes/patient.ttl"} <= expected
    assert sorted(expected - installed.names) == []


def test_wheel_holds_the_licence_and_nothing_of_tests_benchmarks_or_examples(installed):
    licence = [n for n in installed.names if n.endswith(".dist-info/licenses/LICENSE")]
    assert len(licence) == 1
    assert not [n for n in installed.names if n.split("/")[0] in ("tests", "benchmarks", "examples")]
    assert not [n for n in installed.names if "__pycache__" in n or n.endswith(".pyc")]


# --- the installed command, run outside the checkout --------------------------------------------------

def test_installed_package_reads_its_own_data_and_version(installed):
    done = _run([installed.bin / "python", "-c", "import kg, kg.resources; print(kg.__version__); "
                 "print(kg.resources.data_root())"], cwd=installed.work, env=installed.env)
    version, data_root = done.stdout.split()
    assert version == _project_version()
    assert Path(data_root).is_relative_to(installed.bin.parent) and Path(data_root).name == "data"


def test_version(installed):
    assert acr_kg(installed, "--version").stdout.split()[-1] == _project_version()


def test_recommend_for_the_seed_patient(installed):
    patient = shutil.copy(EXAMPLES_DIR / "seed-patient.ttl", installed.work / "seed-patient.ttl")
    assert "ACR topic 235, variant 7:" in acr_kg(installed, "recommend", patient).stdout


def test_check(installed):
    assert "0 ERROR" in acr_kg(installed, "check").stdout


def test_query_list_names_the_queries(installed):
    listed = {line.split()[0] for line in acr_kg(installed, "query", "--list").stdout.splitlines()
              if line and not line[0].isspace()}
    assert {p.stem for p in (installed.source / "queries").glob("*.rq")} <= listed


def test_release(installed):
    out = installed.work / "rel"
    acr_kg(installed, "release", "--out", out)
    for name in ("acr-kg.ttl", "acr-kg.owl", "acr-kg.jsonld", "acr-kg.sssom.tsv", "shapes/patient.ttl",
                 "queries/variant-ratings.rq", "queries/qc/duplicate-rating.rq"):
        assert (out / name).is_file(), name
