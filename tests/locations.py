"""Paths of the repository that the tests read: the examples, and the source folders people edit."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
ONTOLOGY_DIR = ROOT / "ontology"
KB_DIR = ONTOLOGY_DIR / "kb"
SHAPES_DIR = ROOT / "shapes"
QUERIES_DIR = ROOT / "queries"
# Third-party inputs beside the repository; tests that use them skip when it is absent.
FIXTURES = ROOT.parent / "shared" / "fixtures"
