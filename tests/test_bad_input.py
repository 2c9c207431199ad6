"""A corpus of malformed and adversarial patients, and a fuzz of mutated valid ones.

Every corpus case must be refused (exit 2: unreadable, exit 1: invalid) with a message that names the
file and line, or the field; none may crash, hang or get any recommendation. Paired with a valid
patient in one batch, the valid patient still gets exactly the answer it gets alone.
"""
from __future__ import annotations

import random
import re
import socket
from dataclasses import dataclass

import pytest

from kg.errors import AcrKgError, InputError
from kg.input import parse_patient
from locations import EXAMPLES_DIR

SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text(encoding="utf-8")
SEED_JSONLD = (EXAMPLES_DIR / "seed-patient.jsonld").read_text(encoding="utf-8")
LINES = SEED.splitlines()
# The property lines of the seed: `    acr:name value ;` (value a literal, a CURIE or a list of CURIEs).
PROPERTY = re.compile(r"^(\s+)(acr:\w+)\s+(.+?)\s*([;.])\s*$")


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    suffix: str = ".ttl"
    field: str | None = None  # the field a violation must name (its local name), when it is one field


def _replace_line(number: int, text: str) -> str:
    return "\n".join(LINES[:number] + [text] + LINES[number + 1:]) + "\n"


def _wrong_values(value: str) -> dict[str, str]:
    if value.startswith('"') or value in ("true", "false") or value[0].isdigit():
        return {"text": '"not a value"', "iri": "<https://example.org/elsewhere>", "blank": "[]",
                "boolean": '"maybe"^^xsd:boolean'}
    return {"literal": f'"{value}"', "number": "42", "date": '"2026-01-01"^^xsd:date'}


def _datatype_cases() -> list[Case]:
    cases = []
    for number, line in enumerate(LINES):
        match = PROPERTY.match(line)
        if not match:
            continue
        indent, prop, value, end = match.groups()
        for kind, wrong in _wrong_values(value).items():
            cases.append(Case(f"{prop[4:]}-as-{kind}", _replace_line(number, f"{indent}{prop} {wrong} {end}").encode(),
                              field=prop[4:]))
    return cases


def _syntax_cases() -> list[Case]:
    cases = []
    for number, line in enumerate(LINES):
        if PROPERTY.match(line):
            cases.append(Case(f"line-{number + 1}-unclosed-string", _replace_line(number, line[:-2] + ' "open' + line[-2:]).encode()))
            cases.append(Case(f"line-{number + 1}-double-semicolon-dot", _replace_line(number, line.rstrip(" ;.") + " ; . .").encode()))
    step = max(1, len(SEED) // 40)
    cases += [Case(f"truncated-at-{cut}", SEED[:cut].encode()) for cut in range(step, len(SEED) - 40, step)]
    cases += [Case(f"jsonld-truncated-at-{cut}", SEED_JSONLD[:cut].encode(), ".jsonld")
              for cut in range(100, len(SEED_JSONLD) - 10, max(1, len(SEED_JSONLD) // 10))]
    return cases


def _bytes_cases() -> list[Case]:
    rng = random.Random(5)
    return [
        Case("empty", b""),
        Case("only-prefixes", "\n".join(LINES[:9]).encode()),
        Case("random-bytes", bytes(rng.randrange(256) for _ in range(4096))),
        Case("nul-bytes", SEED.encode().replace(b"acr:Patient", b"acr:Pat\x00ient")),
        Case("latin-1", SEED.replace("patients", "pati\xe9nts").encode("latin-1")),
        Case("utf-16-with-bom", SEED.encode("utf-16")),
        Case("bom-in-the-middle", SEED.replace("acr:hasCurrentOrder ex:order", "acr:hasCurrentOrder \ufeffex:order").encode()),
        Case("png-header", b"\x89PNG\r\n\x1a\n" + bytes(100)),
        Case("jsonld-deeply-nested", ('{"@id": "https://example.org/p", "https://example.org/q": '
                                      + '{"https://example.org/q": ' * 5000 + "1" + "}" * 5001).encode(), ".jsonld"),
        Case("jsonld-not-json", b"{ this is not json", ".jsonld"),
        Case("jsonld-array-of-numbers", b"[1, 2, 3]", ".jsonld"),
        Case("turtle-deeply-nested", (SEED + "ex:patient acr:hasFindingChain " + "[ acr:hasFindingChain " * 20000
                                      + "1" + " ]" * 20000 + " .\n").encode()),
        Case("huge-number-literal", SEED.replace("32.0", "9" * 200_000 + ".0").encode(), field="tumourSizeMm"),
        Case("huge-date-literal", SEED.replace('"2026-03-02"^^xsd:date ;\n    acr:tumourSizeMm',
                                                '"' + "2026" * 100_000 + '"^^xsd:date ;\n    acr:tumourSizeMm').encode(),
             field="diagnosisDate"),
        Case("nan-size", SEED.replace("32.0", '"NaN"^^xsd:decimal').encode(), field="tumourSizeMm"),
        Case("inf-size", SEED.replace("32.0", '"INF"^^xsd:double').encode(), field="tumourSizeMm"),
        Case("negative-size", SEED.replace("32.0", "-32.0").encode(), field="tumourSizeMm"),
        Case("triple-term", (SEED + "ex:patient acr:recordedSex <<( ex:a ex:b ex:c )>> .\n").encode()),
        Case("named-graph", b"<https://example.org/p> <https://example.org/q> <https://example.org/r> <https://example.org/g> .",
             ".nq"),
        Case("owl-imports", (SEED + "ex:patient <http://www.w3.org/2002/07/owl#imports> <https://example.org/x> .\n").encode()),
        Case("remote-context", b'{"@context": "https://example.org/context.jsonld", "@id": "https://example.org/p"}', ".jsonld"),
    ]


def _date_cases() -> list[Case]:
    def replace(old: str, new: str) -> bytes:
        assert old in SEED
        return SEED.replace(old, new, 1).encode()
    return [
        Case("diagnosis-after-order", replace('acr:diagnosisDate "2026-03-02"', 'acr:diagnosisDate "2026-12-02"'), field="diagnosisDate"),
        Case("exam-after-order", replace('acr:examDate "2026-11-20"', 'acr:examDate "2026-12-20"'), field="examDate"),
        Case("born-1871", replace('"1978-05-10"', '"1871-05-10"'), field="birthDate"),
        Case("born-after-diagnosis", replace('"1978-05-10"', '"2026-07-10"'), field="birthDate"),
        Case("born-year-0000", replace('"1978-05-10"', '"0000-05-10"'), field="birthDate"),
        Case("born-year-1066", replace('"1978-05-10"', '"1066-05-10"'), field="birthDate"),
        Case("born-negative-year", replace('"1978-05-10"', '"-1978-05-10"'), field="birthDate"),
        Case("born-five-digit-year", replace('"1978-05-10"', '"19780-05-10"'), field="birthDate"),
        Case("therapy-before-diagnosis", replace('acr:startDate "2026-03-16"', 'acr:startDate "2025-03-16"'), field="startDate"),
        Case("therapy-ends-before-start", replace('acr:endDate "2026-09-14"', 'acr:endDate "2026-02-14"'), field="ends"),
        Case("order-date-not-a-date", replace('acr:orderDate "2026-11-20"', 'acr:orderDate "soon"'), field="orderDate"),
        Case("february-30", replace('acr:examDate "2026-11-20"', 'acr:examDate "2026-02-30"'), field="examDate"),
        Case("stated-age-disagrees", replace('acr:birthDate "1978-05-10"^^xsd:date ;',
                                             'acr:birthDate "1978-05-10"^^xsd:date ; acr:ageInYears 30 ;'), field="ageInYears"),
    ]


def _graph_cases() -> list[Case]:
    return [
        Case("two-patients", (SEED + "@prefix ex2: <https://example.org/patients/other/> .\n"
                              + "\n".join(line for line in SEED.splitlines() if not line.startswith("@prefix"))
                              .replace("ex:", "ex2:")).encode()),
        Case("two-patients-one-file", (SEED + "<https://example.org/x> a acr:Patient .\n").encode()),
        Case("no-patient", SEED.replace("ex:patient a acr:Patient ;", "ex:patient ").encode()),
        Case("fact-about-a-variant", (SEED + "acrkb:variant-235-7 acr:variantNumber 9 .\n").encode()),
        Case("fact-about-n-category", (SEED + "acr:cN1 acr:nodalStatus acr:NodeNegative .\n").encode()),
        Case("states-a-derived-aspect", (SEED + "ex:patient acr:treatmentPhase acr:AfterNST .\n").encode()),
        Case("states-a-match", (SEED + "ex:patient acr:matchesVariant acrkb:variant-235-1 .\n").encode()),
        Case("declares-a-kb-class", (SEED + "ex:x a acr:Variant .\n").encode()),
        Case("states-a-rating", (SEED + "ex:r a acr:AppropriatenessRating ; acr:ratedVariant acrkb:variant-235-7 .\n").encode()),
        Case("states-a-context", (SEED + "ex:ctx acr:evaluates ex:patient ; acr:evaluationDate \"2020-01-01\"^^xsd:date .\n").encode()),
        Case("cancer-is-a-literal", SEED.replace("acr:hasBreastCancer ex:cancer", 'acr:hasBreastCancer "the cancer"').encode(),
             field="hasBreastCancer"),
        Case("order-is-a-number", SEED.replace("acr:hasCurrentOrder ex:order", "acr:hasCurrentOrder 7").encode(),
             field="hasCurrentOrder"),
        Case("two-orders", (SEED + "ex:patient acr:hasCurrentOrder ex:order2 . ex:order2 a acr:ImagingOrder ; "
                            'acr:orderDate "2026-11-20"^^xsd:date ; acr:askedQuestion acr:AxillaQuestion .\n').encode()),
        Case("unknown-vocabulary-term", (SEED + "ex:patient acr:favouriteColour \"blue\" .\n").encode()),
    ]


CORPUS = _datatype_cases() + _syntax_cases() + _bytes_cases() + _date_cases() + _graph_cases()


def test_the_corpus_is_large_and_named_uniquely():
    assert len(CORPUS) >= 200
    assert len({case.name for case in CORPUS}) == len(CORPUS)


def _outcome(engine, case: Case):
    """('unreadable', message) or ('invalid', result) or ('answered', result)."""
    try:
        data = parse_patient(case.data, f"{case.name}{case.suffix}")
    except InputError as exc:
        return "unreadable", str(exc)
    result = engine.recommend(data)
    return ("invalid" if not result.valid else "answered"), result


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_each_bad_input_is_refused_with_a_precise_message(recommender, case):
    kind, detail = _outcome(recommender, case)
    assert kind != "answered", f"{case.name} got an answer: {detail.as_dict()['applicable']}"
    if kind == "unreadable":
        assert detail.startswith(f"{case.name}{case.suffix}")  # the file, and the line where the parser knows it
        return
    assert not detail.applicable and not detail.next_steps and not detail.conflicts
    assert all(v.message for v in detail.validation.violations)
    if case.field:
        named = " ".join(f"{v.path or ''} {v.message}" for v in detail.validation.violations).lower()
        assert case.field.lower() in named or _words(case.field) in named, named


def _words(local_name: str) -> str:
    """Messages name fields in words: hasBreastCancer -> 'breast cancer', tumourSizeMm -> 'tumour size'."""
    words = re.sub(r"(?<!^)([A-Z])", r" \1", local_name).lower().split()
    return " ".join(w for w in words if w not in ("has", "is", "mm"))


@pytest.mark.parametrize("case", CORPUS[::3], ids=lambda c: c.name)
def test_through_the_command_line_no_traceback_and_exit_1_or_2(cli, tmp_path, case):
    path = tmp_path / f"{case.name}{case.suffix}"
    path.write_bytes(case.data)
    result = cli("recommend", path, "--format", "json")
    assert result.exit_code in (1, 2), result.stdout[:500]
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        assert str(path) in result.stderr and result.stdout == ""


def test_a_valid_patient_batched_with_each_bad_input_keeps_its_own_answer(recommender):
    valid = parse_patient(SEED.replace("patients/seed/", "patients/paired/").encode(), "paired.ttl")
    alone = recommender.recommend(valid).as_dict()
    for case in CORPUS:
        try:
            bad = parse_patient(case.data, f"{case.name}{case.suffix}")
        except AcrKgError:
            continue
        together = recommender.recommend_many([bad, valid])
        assert not together[0].applicable, case.name
        assert together[1].as_dict() == alone, case.name
        together = recommender.recommend_many([valid, bad])
        assert together[0].as_dict() == alone, case.name


# --- fuzz: mutations of the valid examples, through the library ----------------------------------

EXAMPLES = [p for p in sorted(EXAMPLES_DIR.glob("*.ttl"))]


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    props = [i for i, line in enumerate(lines) if PROPERTY.match(line)]
    i = rng.choice(props)
    indent, prop, value, end = PROPERTY.match(lines[i]).groups()
    kind = rng.randrange(8)
    if kind == 0:  # drop a fact
        lines[i] = f"{indent}# {prop} {value} {end}" if end == ";" else f"{indent}acr:genderIdentity \"x\" {end}"
    elif kind == 1:  # another property's value
        j = rng.choice(props)
        lines[i] = f"{indent}{prop} {PROPERTY.match(lines[j]).group(3)} {end}"
    elif kind == 2:  # a wrong value
        lines[i] = f"{indent}{prop} {rng.choice(list(_wrong_values(value).values()))} {end}"
    elif kind == 3:  # a date moved by up to ten years
        lines[i] = re.sub(r'"(\d{4})-', lambda m: f'"{int(m.group(1)) + rng.randint(-10, 10):04d}-', lines[i])
    elif kind == 4:  # a number scaled
        lines[i] = re.sub(r"(?<![\w-])(\d+\.\d+)", lambda m: f"{float(m.group(1)) * rng.choice([-1, 0, 0.5, 10, 1e6]):.1f}", lines[i])
    elif kind == 5:  # a boolean flipped
        lines[i] = lines[i].replace("true", "FALSE_").replace("false", "true").replace("FALSE_", "false")
    elif kind == 6:  # a fact repeated with another value
        lines.insert(i + 1, f"{indent}{prop} {rng.choice(list(_wrong_values(value).values()) + [value])} ;")
    else:  # a character dropped
        position = rng.randrange(len(lines[i]))
        lines[i] = lines[i][:position] + lines[i][position + 1:]
    return "\n".join(lines) + "\n"


def test_fuzz_alone_and_batched_agree_and_never_crash(recommender):
    rng = random.Random(2026)
    texts = [p.read_text(encoding="utf-8") for p in EXAMPLES]
    graphs, alone = [], []
    for n in range(3000):
        text = _mutate(rng, rng.choice(texts))
        if rng.random() < 0.5:
            text = _mutate(rng, text)
        text = text.replace("https://example.org/", f"https://example.org/fuzz/{n}/")  # each its own patient
        try:
            data = parse_patient(text.encode(), f"fuzz-{n}.ttl")
        except AcrKgError:
            continue
        graphs.append(data)
        alone.append(recommender.recommend(data).as_dict())
    assert len(graphs) > 2000
    assert {a["valid"] for a in alone} == {True, False}
    batched = [r.as_dict() for r in recommender.recommend_many(graphs)]
    differing = [a["source"] for a, b in zip(alone, batched) if a != b]
    assert differing == []


@pytest.fixture()
def listener():
    """A TCP server on 127.0.0.1 that counts the connections it gets: every remote reference in the
    inputs below points at it, so any fetch, by Python or by the Rust parsers, would show."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    accepted = []

    def count() -> int:
        while True:
            try:
                accepted.append(server.accept()[0])
            except (TimeoutError, OSError):
                return len(accepted)
    yield f"http://127.0.0.1:{server.getsockname()[1]}", count
    for connection in accepted:
        connection.close()
    server.close()


def test_parsing_and_querying_never_touch_the_network(recommender, listener, cli):
    from kg.store import EmbeddedStore
    from kg.store.reference import RdflibStore

    base, connections = listener
    inputs = [
        (b'{"@context": "%s/context.jsonld", "@id": "https://example.org/p"}' % base.encode(), "json-ld"),
        (b'{"@context": {"@import": "%s/c.jsonld"}, "@id": "https://example.org/p"}' % base.encode(), "json-ld"),
        (b'{"@context": ["%s/a.jsonld", {"ex": "https://example.org/"}], "@id": "ex:p"}' % base.encode(), "json-ld"),
        (SEED.encode() + b"\nex:patient <http://www.w3.org/2002/07/owl#imports> <%s/onto.ttl> .\n" % base.encode(), "turtle"),
        (b'@prefix ex: <%s/> . ex:a ex:b ex:c .' % base.encode(), "turtle"),
    ]
    for data, fmt in inputs:
        try:
            recommender.recommend(parse_patient(data, "remote-reference", fmt))
        except AcrKgError:
            pass
    for store in (EmbeddedStore(), RdflibStore()):
        with pytest.raises(AcrKgError):
            store.select("SELECT * WHERE { SERVICE <%s/sparql> { ?s ?p ?o } }" % base)
    result = cli("map", f'{base}/x> }} SERVICE <{base}/sparql> {{ ?s ?p ?o')
    assert result.exit_code == 2
    assert connections() == 0
