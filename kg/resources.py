"""Where the data files are: the model and knowledge base, shapes, queries and mappings.

In an installed wheel they sit inside the package (``kg/data/``, copied there by the build, see
pyproject.toml); in a source checkout they are the top-level folders that people edit. Code asks
this module, never a path of its own, so both layouts behave the same.
"""
from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def data_root() -> Path:
    packaged = Path(str(files("kg"))) / "data"
    if (packaged / "ontology").is_dir():
        return packaged
    return Path(__file__).resolve().parents[1]


def ontology_dir() -> Path:
    return data_root() / "ontology"


def kb_dir() -> Path:
    return ontology_dir() / "kb"


def shapes_dir() -> Path:
    return data_root() / "shapes"


def queries_dir() -> Path:
    return data_root() / "queries"


def mappings_file() -> Path:
    return ontology_dir() / "mappings" / "acr-kg.sssom.tsv"


def ontology_files() -> list[Path]:
    """The Turtle files that make up the ontology and knowledge base, model first."""
    return sorted(ontology_dir().glob("*.ttl")) + sorted(kb_dir().glob("*.ttl"))


def files_with_kb_dir(kb_dir: Path) -> list[Path]:
    """The model files of the project (ontology/*.ttl) with the knowledge base taken from ``kb_dir``
    (an imported one, say), instead of the project's own."""
    from kg.errors import InputError

    kb_files = sorted(Path(kb_dir).glob("*.ttl"))
    if not kb_files:
        raise InputError("no Turtle files (*.ttl) in the knowledge base directory", source=str(kb_dir))
    return [p for p in ontology_files() if p.parent == ontology_dir()] + kb_files
