"""Synthetic patients for property-based tests and benchmarks: a plain description -> Turtle.

A ``Case`` holds the facts a patient graph can state; ``case_turtle`` writes it in the patient
vocabulary of ontology/patient.ttl, and ``random_case`` draws one (in scope, out of scope or invalid).
``variant_7_applies`` restates the criteria of ACR topic 235 variant 7 in plain Python, as an
independent oracle for the generic SPARQL matcher.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

POSITIVE_N = ("cN1", "cN1mi", "cN1a", "cN1b", "cN1c", "cN2", "cN3")
ALL_N = ("cNX", "cN0") + POSITIVE_N
QUESTIONS = ("AxillaQuestion", "PrimaryTumourQuestion", "DistantStagingQuestion")
STATUSES = ("CourseCompleted", "CourseOngoing", "CourseStopped")
SEXES = ("Female", "Male", "OtherSex", "UnknownSex")
# Faults that make a case invalid, each breaking one shape.
FAULTS = ("end-before-start", "no-sex", "cortex-out-of-range", "start-after-now", "no-order", "age-as-text")


@dataclass
class Course:
    status: str
    start: dt.date
    end: dt.date | None


@dataclass
class Finding:
    cortex: float | None
    hilum: str | None  # "HilumPresent" | "HilumAbsent"
    shape: str | None  # "ShapeOval" | "ShapeRound" | "ShapeIrregular"
    clip_seen: bool | None = None


@dataclass
class Case:
    now: dt.date
    age: int = 50
    sex: str = "Female"
    has_cancer: bool = True
    n_category: str | None = "cN1"
    tumour_mm: float | None = 30.0
    clip_placed: bool | None = True
    courses: list[Course] = field(default_factory=list)
    surgery_done: bool = False
    prior_axillary_imaging: list[tuple[dt.date, bool]] = field(default_factory=list)  # (date, suspicious)
    question: str = "AxillaQuestion"
    metastasis_suspected: bool | None = False
    palpable: bool | None = None
    findings: list[Finding] | None = None
    fault: str | None = None
    ordered_procedure: str | None = None  # local name in acrkb:, e.g. "proc-us-axilla"


def _date(value: dt.date) -> str:
    return f'"{value.isoformat()}"^^xsd:date'


def case_turtle(case: Case, iri: str = "https://example.org/synthetic/p") -> str:
    """Write a case as a Turtle patient graph under the base IRI ``iri``."""
    p = f"<{iri}>"
    lines = ["@prefix acr: <https://w3id.org/acr-kg/ontology/> .",
             "@prefix acrkb: <https://w3id.org/acr-kg/kb/> .",
             "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .",
             f"{p} a acr:Patient ; acr:definitiveSurgeryDone {str(case.surgery_done).lower()} ."]
    if case.fault == "age-as-text":
        lines.append(f'{p} acr:ageInYears "{case.age} years" .')
    else:
        lines.append(f"{p} acr:birthDate {_date(dt.date(case.now.year - case.age, 1, 1))} .")
    if case.fault != "no-sex":
        lines.append(f"{p} acr:recordedSex acr:{case.sex} .")
    if case.metastasis_suspected is not None:
        lines.append(f"{p} acr:distantMetastasisSuspected {str(case.metastasis_suspected).lower()} .")
    if case.has_cancer:
        c = f"<{iri}/cancer>"
        lines.append(f"{p} acr:hasBreastCancer {c} . {c} a acr:BreastCancer .")
        if case.n_category:
            lines.append(f"{c} acr:clinicalNCategory acr:{case.n_category} ; acr:nodalStatusEstablishedBy acr:ByImaging .")
        if case.tumour_mm is not None:
            lines.append(f'{c} acr:tumourSizeMm "{case.tumour_mm}"^^xsd:decimal .')
        if case.clip_placed is not None:
            lines.append(f"{c} acr:hasBiopsiedNode <{iri}/node> . <{iri}/node> acr:clipPlaced {str(case.clip_placed).lower()} .")
    for i, course in enumerate(case.courses):
        t = f"<{iri}/course-{i}>"
        start = course.start
        if case.fault == "start-after-now" and i == 0:
            start = case.now + dt.timedelta(days=30)
        lines.append(f"{p} acr:hasTherapyCourse {t} . {t} a acr:SystemicTherapyCourse ; acr:therapyType acr:Chemotherapy ; "
                     f"acr:courseStatus acr:{course.status} ; acr:startDate {_date(start)} .")
        end = course.end
        if case.fault == "end-before-start" and i == 0:
            end = start - dt.timedelta(days=10)
        if end is not None:
            lines.append(f"{t} acr:endDate {_date(end)} .")
    for i, (when, suspicious) in enumerate(case.prior_axillary_imaging):
        s = f"<{iri}/imaging-{i}>"
        lines.append(f"{p} acr:hasPriorImaging {s} . {s} a acr:ImagingStudy ; acr:studyModality acrkb:modality-US ; "
                     f"acr:studyDate {_date(when)} ; acr:axillaEvaluated true ; acr:axillaSuspicious {str(suspicious).lower()} .")
    if case.fault != "no-order":
        o = f"<{iri}/order>"
        lines.append(f"{p} acr:hasCurrentOrder {o} . {o} a acr:ImagingOrder ; acr:askedQuestion acr:{case.question} ; "
                     f"acr:orderDate {_date(case.now)} .")
        if case.ordered_procedure:
            lines.append(f"{o} acr:orderedProcedure acrkb:{case.ordered_procedure} .")
    if case.palpable is not None:
        e = f"<{iri}/exam>"
        lines.append(f"{p} acr:hasClinicalExam {e} . {e} a acr:ClinicalExam ; acr:palpableAxillaryNode {str(case.palpable).lower()} .")
    if case.findings is not None:
        u = f"<{iri}/us>"
        lines.append(f"{p} acr:hasPostTherapyUltrasound {u} . {u} a acr:AxillaryUltrasoundStudy ; acr:studyDate {_date(case.now)} .")
        for i, f in enumerate(case.findings):
            n = f"<{iri}/finding-{i}>"
            lines.append(f"{u} acr:hasNodeFinding {n} . {n} a acr:NodeFinding .")
            cortex = 45.0 if case.fault == "cortex-out-of-range" and i == 0 else f.cortex
            if cortex is not None:
                lines.append(f'{n} acr:cortexThicknessMm "{cortex}"^^xsd:decimal .')
            if f.hilum:
                lines.append(f"{n} acr:fattyHilum acr:{f.hilum} .")
            if f.shape:
                lines.append(f"{n} acr:nodeShape acr:{f.shape} .")
            if f.clip_seen is not None:
                lines.append(f"{n} acr:clipSeen {str(f.clip_seen).lower()} .")
    return "\n".join(lines) + "\n"


def variant_7_applies(case: Case) -> bool:
    """Topic 235 variant 7 restated in Python, independent of the knowledge base and the queries."""
    if case.fault is not None:
        return False
    statuses = {c.status for c in case.courses}
    return (case.age >= 18 and case.has_cancer and case.n_category in POSITIVE_N
            and not case.surgery_done and bool(case.courses) and statuses == {"CourseCompleted"}
            and case.question == "AxillaQuestion" and bool(case.prior_axillary_imaging))


def random_case(rng: random.Random, now: dt.date = dt.date(2026, 11, 20), invalid_rate: float = 0.1) -> Case:
    """Draw a case; roughly half are near the seed's scenario, the rest vary one or more facts."""
    diagnosis = now - dt.timedelta(days=rng.randint(120, 400))
    courses = []
    phase = rng.choice(("before", "during", "after", "after", "after", "stopped"))
    if phase != "before":
        start = diagnosis + dt.timedelta(days=14)
        status = {"during": "CourseOngoing", "after": "CourseCompleted", "stopped": "CourseStopped"}[phase]
        end = None if status == "CourseOngoing" else min(start + dt.timedelta(days=rng.randint(30, 180)), now)
        courses.append(Course(status, start, end))
    imaging = [(diagnosis, rng.random() < 0.7)] if rng.random() < 0.8 else []
    findings = None
    if phase == "after" and rng.random() < 0.5:
        findings = [Finding(round(rng.uniform(0.5, 5.0), 1), rng.choice(("HilumPresent", "HilumAbsent", None)),
                            rng.choice(("ShapeOval", "ShapeRound", "ShapeIrregular", None)), rng.choice((True, False, None)))
                    for _ in range(rng.randint(0, 3))]
    fault = rng.choice(FAULTS) if rng.random() < invalid_rate else None
    if fault in ("end-before-start", "start-after-now") and not courses:
        courses.append(Course("CourseCompleted", diagnosis + dt.timedelta(days=14), diagnosis + dt.timedelta(days=100)))
    if fault == "cortex-out-of-range" and not findings:
        findings = [Finding(2.0, "HilumPresent", "ShapeOval")]
    return Case(
        now=now,
        age=rng.choice((16, 17, 18, 35, 48, 62, 80)),
        sex=rng.choice(SEXES),
        has_cancer=rng.random() < 0.95,
        n_category=rng.choice(ALL_N + POSITIVE_N + (None,)),
        tumour_mm=rng.choice((12.0, 20.0, 20.5, 32.0, None)),
        clip_placed=rng.choice((True, False, None)),
        courses=courses,
        surgery_done=rng.random() < 0.1,
        prior_axillary_imaging=imaging,
        question=rng.choice(QUESTIONS + ("AxillaQuestion", "AxillaQuestion")),
        metastasis_suspected=rng.choice((True, False, False, None)),
        palpable=rng.choice((True, False, None)),
        findings=findings,
        fault=fault,
    )


# The population mix of the cohort benchmark: scenario -> share (see cohort_case).
COHORT_MIX = {"variant-7": 0.3, "other-variant": 0.3, "no-variant": 0.3, "invalid": 0.1}
# Procedures an order may name, from the knowledge base (ontology/kb/procedures.ttl).
ORDERED_PROCEDURES = ("proc-us-axilla", "proc-mri-breast-wo-w", "proc-mammo-diagnostic",
                      "proc-fdg-petct-skull-base-mid-thigh", None)


def cohort_case(rng: random.Random, start: dt.date = dt.date(2026, 1, 1), days: int = 365,
                scenario: str | None = None) -> Case:
    """A patient of a hospital population, with its order date somewhere in ``days`` from ``start``.

    Scenarios: "variant-7" (after completed neoadjuvant chemotherapy for node-positive cancer, asked
    about the axilla, with an ultrasound of 1-3 nodes), "other-variant" (node-negative after therapy, or
    the initial work-up before therapy), "no-variant" (therapy ongoing, another question, or surgery
    done) and "invalid" (one shape broken); drawn from COHORT_MIX when not given."""
    if scenario is None:
        scenario = rng.choices(list(COHORT_MIX), weights=list(COHORT_MIX.values()))[0]
    now = start + dt.timedelta(days=rng.randrange(days))
    diagnosis = now - dt.timedelta(days=rng.randint(150, 300))
    therapy_start = diagnosis + dt.timedelta(days=rng.randint(10, 30))
    completed = Course("CourseCompleted", therapy_start, therapy_start + dt.timedelta(days=rng.randint(90, 140)))
    case = Case(now=now, age=rng.randint(30, 85), n_category=rng.choice(POSITIVE_N[:6]),
                tumour_mm=rng.choice((14.0, 18.0, 25.0, 32.0)), clip_placed=rng.choice((True, None)),
                courses=[completed], prior_axillary_imaging=[(diagnosis, True)],
                metastasis_suspected=False, ordered_procedure=rng.choice(ORDERED_PROCEDURES))
    if scenario in ("variant-7", "invalid"):
        case.palpable = rng.choice((False, False, True, None))
        case.findings = [Finding(round(rng.uniform(1.0, 4.0), 1), rng.choice(("HilumPresent", "HilumAbsent")),
                                 rng.choice(("ShapeOval", "ShapeOval", "ShapeRound")), rng.choice((True, None)))
                         for _ in range(rng.randint(1, 3))]
        if scenario == "invalid":
            case.fault = rng.choice(FAULTS)
    elif scenario == "other-variant":
        if rng.random() < 0.5:  # node-negative after therapy
            case.n_category = "cN0"
            case.prior_axillary_imaging = []
        else:  # the initial work-up, before any therapy
            case.courses = []
            case.now = diagnosis + dt.timedelta(days=rng.randint(3, 10))
            case.prior_axillary_imaging = [(diagnosis, rng.random() < 0.7)]
    elif scenario == "no-variant":
        kind = rng.choice(("ongoing", "question", "surgery"))
        if kind == "ongoing":
            case.courses = [Course("CourseOngoing", therapy_start, None)]
        elif kind == "question":
            case.question = rng.choice(QUESTIONS[1:])
        else:
            case.surgery_done = True
    else:
        raise ValueError(f"unknown scenario {scenario!r}; use one of {', '.join(COHORT_MIX)}")
    return case
