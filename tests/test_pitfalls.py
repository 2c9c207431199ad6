"""Each pitfall warns only where its question does: one test shows it firing, one not."""
from __future__ import annotations

import datetime as dt

from locations import edited_example as edited
from kg.input.reader import parse_patient
from kg.validate import validate

NOW = dt.date(2026, 11, 20)
KB = "https://w3id.org/acr-kg/kb/"


def pitfalls(data: bytes) -> set[str]:
    result = validate(parse_patient(data, "case.ttl").quads, NOW)
    return {w.pitfall.removeprefix(KB) for w in result.warnings}


SILENT_ORDER = ("acr:orderMentionsClip true", "acr:orderMentionsClip false")
STAGING = ("acr:askedQuestion acr:AxillaQuestion", "acr:askedQuestion acr:DistantStagingQuestion")
NO_BASELINE = ('acr:studyDate "2026-03-02"', 'acr:studyDate "2026-04-02"')


def test_clip_not_communicated_fires_for_an_axillary_order_silent_on_the_clip():
    assert "pitfall-clip-not-communicated" in pitfalls(edited(SILENT_ORDER))


def test_clip_not_communicated_is_silent_for_a_distant_staging_order():
    assert "pitfall-clip-not-communicated" not in pitfalls(edited(SILENT_ORDER, STAGING))


def test_clip_not_communicated_is_silent_without_an_order():
    data = edited(SILENT_ORDER, ("    acr:hasCurrentOrder ex:order .", "    acr:recordedSex acr:Female ."))
    assert "pitfall-clip-not-communicated" not in pitfalls(data)


def test_clip_not_communicated_is_silent_without_a_clip():
    assert "pitfall-clip-not-communicated" not in pitfalls(edited(SILENT_ORDER, ("acr:clipPlaced true", "acr:clipPlaced false")))


def test_clip_not_found_fires_for_an_axillary_question_and_not_for_staging():
    lost = ("    acr:clipSeen true ;\n", "    acr:clipSeen false ;\n")
    assert "pitfall-clip-not-found" in pitfalls(edited(lost, base="after-therapy-normal-us.ttl"))
    assert "pitfall-clip-not-found" not in pitfalls(edited(lost, STAGING, base="after-therapy-normal-us.ttl"))


def test_no_baseline_fires_for_an_axillary_question_and_not_for_staging():
    assert "pitfall-no-baseline-comparison" in pitfalls(edited(NO_BASELINE))
    assert "pitfall-no-baseline-comparison" not in pitfalls(edited(NO_BASELINE, STAGING))


def test_size_alone_fires_only_for_a_node_described_by_size_alone():
    size_only = ("    acr:cortexThicknessMm 1.4 ;\n    acr:fattyHilum acr:HilumPresent ;\n", "    acr:shortAxisMm 6.0 ;\n")
    assert "pitfall-size-alone" in pitfalls(edited(size_only, base="after-therapy-normal-us.ttl"))
    assert "pitfall-size-alone" not in pitfalls(edited(base="after-therapy-normal-us.ttl"))


def test_palpable_node_against_normal_ultrasound_fires_only_when_palpable():
    palpable = ("acr:palpableAxillaryNode false", "acr:palpableAxillaryNode true")
    assert "pitfall-palpable-normal-us" in pitfalls(edited(palpable, base="after-therapy-normal-us.ttl"))
    assert "pitfall-palpable-normal-us" not in pitfalls(edited(base="after-therapy-normal-us.ttl"))
