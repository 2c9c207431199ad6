"""CPT codes are licensed by the AMA and none is verified in our references, so the mapping set ships none.
A licensed user who adds CPT rows gets the same crosswalk as for LOINC: every variant, in every topic
loaded, that rates the procedure."""
from __future__ import annotations

import pytest

from kg.errors import UsageError
from kg.kb.tables import catalogue, import_tables
from kg.kb.tables.synthetic import generate
from kg.resources import files_with_kb_dir, mappings_file
from kg.store import EmbeddedStore
from kg.terminology.crosswalk import lookup
from kg.terminology.mappings import load

# A placeholder code of the right form: the test does not claim it is the CPT code of the examination.
USER_CODE = "00000"


def test_cpt_is_a_known_terminology_without_codes_in_the_shipped_set():
    with pytest.raises(UsageError, match="not in the mapping set"):
        lookup("CPT:76882")
    with pytest.raises(UsageError, match="not a well-formed CPT code"):
        lookup("CPT:7688")
    assert not [m for m in load().mappings if m.object_id.startswith("CPT:")]


def test_a_users_cpt_row_gives_every_variant_in_every_topic(tmp_path):
    text = mappings_file().read_text(encoding="utf-8")
    row = (f"acrkb:proc-us-axilla\tUS axilla\tskos:exactMatch\tCPT:{USER_CODE}\t\tsemapv:ManualMappingCuration"
           "\t\t0.9\ta licensed user's row (test)\n")
    user_set = tmp_path / "user.sssom.tsv"
    user_set.write_text(text + row, encoding="utf-8")
    table = generate(240, catalogue.load(), seed=5, anomalies=False).write_csv(tmp_path / "table.csv")
    import_tables([table], out=tmp_path / "kb")
    answer = lookup(f"CPT:{USER_CODE}", load(user_set), EmbeddedStore(files_with_kb_dir(tmp_path / "kb")))
    [concept] = answer.concepts
    topics = {rating.topic for rating in concept.ratings}
    assert concept.iri.endswith("proc-us-axilla") and 235 in topics and 286 in topics
    assert any(topic >= 9000 for topic in topics)  # imported topics rate it too
