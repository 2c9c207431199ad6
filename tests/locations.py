"""Paths of the repository that the tests read (the examples, the source folders people edit), and
examples edited in place."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
ONTOLOGY_DIR = ROOT / "ontology"
KB_DIR = ONTOLOGY_DIR / "kb"
SHAPES_DIR = ROOT / "shapes"
QUERIES_DIR = ROOT / "queries"
# Third-party inputs beside the repository; tests that use them skip when it is absent.
FIXTURES = ROOT.parent / "shared" / "fixtures"


def edited_example(*edits: tuple[str, str], base: str = "seed-patient.ttl") -> bytes:
    """An example file with each (old, new) text replaced; every old text must be there."""
    text = (EXAMPLES_DIR / base).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()
