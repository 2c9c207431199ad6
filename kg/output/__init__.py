"""Writers for results: text for clinicians, JSON for programs, Turtle for the semantic web.

Each family has a dispatch table from format name to writer, so the CLI never branches on formats.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pyoxigraph as ox

from kg.recommend import Recommendation
from kg.store import BNode, IRI, Rows, to_oxigraph
from kg.validate import ValidationResult


def _json_default(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def _short(iri: str | None) -> str:
    if not iri:
        return ""
    for prefix, ns in (("acr:", "https://w3id.org/acr-kg/ontology/"), ("acrkb:", "https://w3id.org/acr-kg/kb/")):
        if iri.startswith(ns):
            return prefix + iri[len(ns):]
    return iri


# --- validation ------------------------------------------------------------------------------------

def _issue_lines(issues, mark: str) -> list[str]:
    lines = []
    for issue in issues:
        where = _short(issue.focus) or "(graph)"
        if issue.path:
            where += f" {_short(issue.path)}"
        lines.append(f"  {mark} {where}: {issue.message}")
        if issue.value is not None and issue.value != issue.focus and issue.value not in issue.message:
            lines.append(f"      value: {issue.value}")
        if issue.pitfall:
            lines.append(f"      pitfall: {_short(issue.pitfall)}")
    return lines


def validation_text(result: ValidationResult, source: str) -> str:
    head = f"{source}: {'valid' if result.valid else 'INVALID'}"
    counts = f"{len(result.violations)} violation(s), {len(result.warnings)} warning(s)"
    lines = [f"{head} ({counts})"]
    if result.violations:
        lines += ["Violations (the data cannot be used until these are fixed):"] + _issue_lines(result.violations, "x")
    if result.warnings:
        lines += ["Warnings (pitfalls to check):"] + _issue_lines(result.warnings, "!")
    return "\n".join(lines) + "\n"


def validation_json(result: ValidationResult, source: str) -> str:
    return to_json({"source": source, "valid": result.valid,
                    "violations": [v.as_dict() for v in result.violations],
                    "warnings": [w.as_dict() for w in result.warnings]})


def validation_turtle(result: ValidationResult, source: str) -> str:
    return result.report.serialize(format="turtle")


VALIDATION_WRITERS = {"text": validation_text, "json": validation_json, "turtle": validation_turtle}


# --- recommendation --------------------------------------------------------------------------------

def _ratings_table(procedures: list[dict]) -> list[str]:
    header = ("Procedure", "Category", "Median", "SOE", "Adult RRL", "Peds RRL")
    rows = [(p["label"], p["category"], str(p["median"]), p["soe"] or "-", p["adult_rrl"] or "-", p["peds_rrl"] or "-")
            for p in procedures]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = "    " + "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]
    return [line.rstrip() for line in lines]


def recommendation_text(rec: Recommendation) -> str:
    if not rec.valid:
        return validation_text(rec.validation, rec.patient or "patient") + \
            "No recommendation: the patient data violate the shapes.\n"
    out = [f"Patient {_short(rec.patient)}: evaluated as of {rec.now.isoformat()}; "
           f"ultrasound thresholds: {rec.thresholds}", ""]
    if not rec.applicable:
        out += ["No ACR criteria apply to this patient. For each variant, what does not fit:"]
    for variant in rec.applicable:
        out += [f"ACR topic {variant['topic_id']}, variant {variant['variant_number']}: {variant['label']}",
                "  Why it applies:"] + [f"    - {reason}" for reason in variant["matched_because"]]
        out += ["  Ratings, best first (RRL = relative radiation level; O = no ionising radiation):"]
        out += _ratings_table(variant["procedures"])
        for p in variant["procedures"]:
            if p["rationale"]:
                out.append(f"    * {p['label']}: {p['rationale']}")
        out.append("")
    if rec.conflicts:
        out += ["Conflicts between topics (shown, not resolved; discuss with the team):"]
        out += [f"  ! {c['message']}" for c in rec.conflicts] + [""]
    warnings = rec.notes + rec.validation.warnings
    if warnings:
        out += ["Warnings:"] + _issue_lines(warnings, "!") + [""]
    if rec.node_assessments:
        first = rec.node_assessments[0]
        out += [f"Post-therapy ultrasound: {first['result']} (thresholds '{rec.thresholds}': {first['threshold_rule']})"]
        for n in rec.node_assessments:
            if n["finding"]:
                cortex = f"cortex {n['cortex_mm']} mm" if n["cortex_mm"] is not None else "cortex not recorded"
                out.append(f"  - {_short(n['finding'])}: {n['assessment']} ({cortex}, "
                           f"{n['fatty_hilum'] or 'fatty hilum not recorded'}, shape {n['shape'] or 'not recorded'})")
        out.append("")
    if rec.next_steps:
        scanned = bool(rec.node_assessments)
        out += ["Next steps" + ("" if scanned else " after the axillary ultrasound, by its result") + ":"]
        for step in rec.next_steps:
            trigger = (f"then, if {step['when_outcome']}" if step["after_step"]
                       else f"if the ultrasound is {step['when_result']}")
            out.append(f"  - {trigger}: {step['label']}" if not scanned or step["after_step"]
                       else f"  - {step['label']}")
            if step["note"]:
                out.append(f"      note: {step['note']}")
        out.append("")
    if rec.not_applicable:
        out += ["Variants that do not apply:"]
        for variant in rec.not_applicable:
            out.append(f"  - topic {variant['topic_id']} variant {variant['variant_number']} ({variant['label']}):")
            out += [f"      not met: {reason}" for reason in variant["reasons"]]
        out.append("")
    if rec.sources:
        out += ["Sources:"] + [f"  - {s.get('title', '')} <{s['source']}>" + (f" ({s['citation']})" if s.get("citation") else "")
                               for s in rec.sources]
    return "\n".join(out).rstrip() + "\n"


def recommendations_text(recs: list[Recommendation]) -> str:
    return "\n".join(recommendation_text(rec) for rec in recs)


def recommendations_json(recs: list[Recommendation]) -> str:
    """One patient: its object; several: an array of their objects, in input order."""
    return to_json(recs[0].as_dict() if len(recs) == 1 else [rec.as_dict() for rec in recs])


def recommendations_turtle(recs: list[Recommendation]) -> str:
    """The patients' derived facts (case aspects, matched variants, node readings) as RDF; each
    patient's facts are about its own nodes, so one graph holds them all."""
    triples = [ox.Triple(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)) for rec in recs for s, p, o in rec.derived]
    return ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes={
        "acr": "https://w3id.org/acr-kg/ontology/", "acrkb": "https://w3id.org/acr-kg/kb/"}).decode()


# What `acr-kg recommend` writes for the patients it was given.
RECOMMENDATION_WRITERS = {"text": recommendations_text, "json": recommendations_json, "turtle": recommendations_turtle}


# --- query results ---------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (IRI, BNode)):
        return _short(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def rows_table(rows: Rows) -> str:
    cells = [[_cell(r[v]) for v in rows.variables] for r in rows]
    widths = [max([len(v)] + [len(c[i]) for c in cells]) for i, v in enumerate(rows.variables)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*rows.variables), fmt.format(*("-" * w for w in widths))] + [fmt.format(*c) for c in cells]
    return "\n".join(line.rstrip() for line in lines) + f"\n({len(cells)} row{'s' if len(cells) != 1 else ''})\n"


def rows_json(rows: Rows) -> str:
    return to_json({"variables": rows.variables, "rows": rows.rows})


def rows_csv(rows: Rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.variables)
    for row in rows:
        writer.writerow(["" if row[v] is None else str(row[v]) for v in rows.variables])
    return buffer.getvalue()


ROWS_WRITERS = {"table": rows_table, "json": rows_json, "csv": rows_csv}
