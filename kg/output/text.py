"""Text for clinicians and integrators reading a terminal: validation reports and recommendations."""
from __future__ import annotations

from kg.recommend import Recommendation
from kg.terms import curie


def _issue_lines(issues, mark: str) -> list[str]:
    lines = []
    for issue in issues:
        where = curie(issue.focus) or "(graph)"
        if issue.path:
            where += f" {curie(issue.path)}"
        lines.append(f"  {mark} {where}: {issue.message}")
        if issue.value is not None and issue.value != issue.focus and issue.value not in issue.message:
            lines.append(f"      value: {issue.value}")
        if issue.pitfall:
            lines.append(f"      pitfall: {curie(issue.pitfall)}")
    return lines


def validation_text(rec: Recommendation) -> str:
    result, source = rec.validation, rec.source
    head = f"{source}: {'valid' if result.valid else 'INVALID'}"
    counts = f"{len(result.violations)} violation(s), {len(result.warnings)} warning(s)"
    lines = [f"{head} ({counts})"]
    warnings = rec.notes + result.warnings
    if result.violations:
        lines += ["Violations (the data cannot be used until these are fixed):"] + _issue_lines(result.violations, "x")
    if warnings:
        lines += ["Warnings (pitfalls and unmapped codes to check):"] + _issue_lines(warnings, "!")
    return "\n".join(lines) + "\n"


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
        return validation_text(rec) + "No recommendation: the patient data violate the shapes.\n"
    out = [f"Patient {curie(rec.patient)} ({rec.source}): evaluated as of {rec.now.isoformat()}; "
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
    out += _order_lines(rec.order)
    if rec.would_apply_if:
        out += ["Would apply if the record settled what is unknown (nothing is recommended from a guess):"]
        for variant in rec.would_apply_if:
            out.append(f"  - topic {variant['topic_id']} variant {variant['variant_number']}:")
            out += [f"      unknown: {missing}" for missing in variant["missing"]]
        out.append("")
    if rec.not_evaluated:
        topics = sorted({v["topic_id"] for v in rec.not_evaluated}, key=lambda t: (t is None, t))
        out += [f"Not evaluated: {len(rec.not_evaluated)} variant(s) of {len(topics)} imported topic(s) "
                f"({', '.join(str(t) for t in topics[:12])}{', ...' if len(topics) > 12 else ''}): their populations "
                "are stated in words only, so no program can tell whether this patient belongs to them.", ""]
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
                out.append(f"  - {curie(n['finding'])}: {n['assessment']} ({cortex}, "
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
    if rec.record_sources:
        out += ["From the record (each fact of the patient graph and the resources it was read from):"]
        for entry in rec.record_sources:
            resources = [r.removeprefix("urn:fhir:") for r in entry["derived_from"]]
            shown = ", ".join(resources[:4]) + (f" and {len(resources) - 4} more" if len(resources) > 4 else "")
            out.append(f"  - {entry['node'].rsplit('/', 1)[-1]}: {shown}")
        out.append("")
    if rec.sources:
        out += ["Sources:"] + [f"  - {s.get('title', '')} <{s['source']}>" + (f" ({s['citation']})" if s.get("citation") else "")
                               for s in rec.sources]
    return "\n".join(out).rstrip() + "\n"


def _order_lines(order: dict | None) -> list[str]:
    """How the applicable variants rate the procedure on the order."""
    if order is None:
        return []
    if order["status"] != "rated":
        named = f"{order['label'] or curie(order['procedure'])}: " if order["procedure"] else ""
        what = "no criteria apply" if order["status"] == "no-criteria-apply" else "not rated"
        return [f"Ordered procedure: {named}{what} ({order['reason']})", ""]
    lines = [f"Ordered procedure: {order['label']}"]
    for r in order["ratings"]:
        lines.append(f"  - topic {r['topic_id']} variant {r['variant_number']}: {r['category_label']} ({r['median']})")
        if r["better"]:
            lines.append("      rated higher: " + ", ".join(f"{b['label']} ({b['category_label']}, {b['median']})"
                                                        for b in r["better"]))
    return lines + [""]


def validations_text(recs: list[Recommendation]) -> str:
    return "\n".join(map(validation_text, recs))


def recommendations_text(recs: list[Recommendation]) -> str:
    return "\n".join(recommendation_text(rec) for rec in recs)
