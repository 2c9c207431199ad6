"""Where the project's data files live: the layout is part of the public contract."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONTOLOGY_DIR = ROOT / "ontology"
KB_DIR = ONTOLOGY_DIR / "kb"
SHAPES_DIR = ROOT / "shapes"
QUERIES_DIR = ROOT / "queries"
EXAMPLES_DIR = ROOT / "examples"

ACR = "https://w3id.org/acr-kg/ontology/"
ACRKB = "https://w3id.org/acr-kg/kb/"
ONTOLOGY_IRI = "https://w3id.org/acr-kg/ontology"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def ontology_files() -> list[Path]:
    """The Turtle files that make up the ontology and knowledge base, model first."""
    return sorted(ONTOLOGY_DIR.glob("*.ttl")) + sorted(KB_DIR.glob("*.ttl"))
