"""The explanation of an answer: why each variant applies or not, the ratings, conflicts between
topics, the readings of ultrasound nodes, the next steps and the sources, from the rows of the
explanation queries (each run once per batch and split by patient)."""
from __future__ import annotations

from kg.recommend.results import Recommendation
from kg.terms import ACR, curie
from kg.store.terms import IRI

# Explanation queries: key in the rows passed to explain() -> named query.
EXPLANATION = {"criteria": "criteria-status", "ratings": "variant-ratings", "conflicts": "rating-conflicts",
               "nodes": "node-assessments", "steps": "next-steps", "order": "order-ratings",
               "unknowns": "unknown-aspects"}
USUALLY_APPROPRIATE = ACR + "UsuallyAppropriate"
ORDER_RATED_AS = IRI(ACR + "orderRatedAs")


def explain(result: Recommendation, rows: dict[str, list], labels: dict[str, str], catalogue: dict[str, dict]) -> None:
    """Fill in the explanation of one valid, loaded patient from its rows of the explanation queries."""
    thresholds = result.thresholds
    used_sources: set[str] = set()

    by_variant: dict[str, dict] = {}
    for row in rows["criteria"]:
        entry = by_variant.setdefault(row["variant"], {
            "variant": row["variant"], "topic_id": row["topicId"], "variant_number": row["variantNumber"],
            "matched": row["matched"], "met": [], "unmet": []})
        text = _criterion_text(row)
        entry["met" if row["met"] else "unmet"].append(text)
        used_sources.update((row["sources"] or "").split())

    ratings = rows["ratings"]
    for variant, entry in sorted(by_variant.items(), key=lambda kv: (kv[1]["topic_id"], kv[1]["variant_number"])):
        if entry["matched"]:
            procedures = [_procedure(r) for r in ratings if r["variant"] == variant]
            for r in ratings:
                if r["variant"] == variant:
                    used_sources.update((r["sources"] or "").split())
            result.applicable.append({
                "topic_id": entry["topic_id"], "variant_number": entry["variant_number"], "variant": variant,
                "label": labels.get(variant, ""), "matched_because": entry["met"], "procedures": procedures})
        else:
            result.not_applicable.append({
                "variant": variant, "topic_id": entry["topic_id"], "variant_number": entry["variant_number"],
                "label": labels.get(variant, ""), "reasons": entry["unmet"]})

    for row in rows["conflicts"]:
        result.conflicts.append({
            "procedure": row["procedure"], "label": row["procedureLabel"],
            "ratings": [
                {"topic_id": row["topicA"], "variant_number": row["numberA"], "variant": row["variantA"],
                 "rating": row["ratingA"], "category": row["categoryLabelA"], "median": row["medianA"]},
                {"topic_id": row["topicB"], "variant_number": row["numberB"], "variant": row["variantB"],
                 "rating": row["ratingB"], "category": row["categoryLabelB"], "median": row["medianB"]}],
            "message": (f"{row['procedureLabel']}: topic {row['topicA']} variant {row['numberA']} rates it "
                        f"{row['categoryLabelA']} ({row['medianA']}), topic {row['topicB']} variant "
                        f"{row['numberB']} rates it {row['categoryLabelB']} ({row['medianB']})")})

    for row in rows["nodes"]:
        used_sources.update((row["sources"] or "").split())
        result.node_assessments.append({
            "study": row["study"], "result": row["resultLabel"], "finding": row["finding"],
            "assessment": row["assessmentLabel"], "cortex_mm": _number(row["cortex"]),
            "fatty_hilum": row["hilumLabel"], "shape": row["shapeLabel"], "clipped_node": row["clipped"],
            "threshold": row["threshold"], "threshold_rule": f"cortex {row['comparatorSymbol']} {row['limit']} mm",
            "threshold_set": thresholds, "sources": sorted(set((row["sources"] or "").split()))})

    for row in rows["steps"]:
        used_sources.update((row["sources"] or "").split())
        result.next_steps.append({
            "variant": row["variant"], "when_result": row["resultLabel"], "order": row["order"],
            "after_step": row["afterStepLabel"], "when_outcome": row["outcomeLabel"],
            "step": row["step"], "label": row["stepLabel"], "note": row["note"],
            "sources": sorted(set((row["sources"] or "").split()))})

    result.would_apply_if = _would_apply_if(by_variant, rows["criteria"], rows["unknowns"], used_sources)
    result.order = _order_rating(rows["order"], rows["ratings"], result.applicable)
    for rating in result.order["ratings"]:
        result.derived.append((IRI(rows["order"][0]["order"]), ORDER_RATED_AS, IRI(rating["rating"])))

    result.sources = [catalogue.get(s, {"source": s}) for s in sorted(used_sources)]


def _criterion_text(row) -> str:
    return f"{row['criterionLabel']} (patient: {row['patientValueLabel'] or 'unknown'})"


def _number(value):
    return float(value) if value is not None else None


def _procedure(row) -> dict:
    return {
        "procedure": row["procedure"], "label": row["label"], "rating": row["rating"],
        "category": row["categoryLabel"], "median": row["median"], "soe": row["soeLabel"],
        "adult_rrl": row["adultSymbol"], "peds_rrl": row["pedsSymbol"], "rationale": row["rationale"],
        "sources": sorted(set((row["sources"] or "").split()))}


def _would_apply_if(by_variant: dict, criteria: list, unknowns: list, used_sources: set[str]) -> list[dict]:
    """The variants no known value contradicts but some unknown aspect keeps from applying, with what is
    missing: unknown is not "no", and nothing is recommended from a guess."""
    reasons: dict[str, list[str]] = {}
    for row in unknowns:
        text = row["reason"] + (f" ({curie(row['node'])})" if row["node"] else "")
        reasons.setdefault(row["aspect"], []).append(text)
        used_sources.update((row["sources"] or "").split())
    found = []
    for variant, entry in sorted(by_variant.items(), key=lambda kv: (kv[1]["topic_id"], kv[1]["variant_number"])):
        own = [row for row in criteria if row["variant"] == variant]
        if entry["matched"] or any(row["patientValue"] is not None and not row["met"] for row in own):
            continue
        missing: dict[str, str] = {}
        for row in own:
            if row["patientValue"] is None and row["aspect"] not in missing:
                why = "; ".join(reasons.get(row["aspect"], ["not recorded"]))
                missing[row["aspect"]] = f"{row['aspectLabel']}: {why}"
        if missing:
            found.append({"topic_id": entry["topic_id"], "variant_number": entry["variant_number"], "variant": variant,
                          "missing": list(missing.values())})
    return found


def _order_rating(order_rows: list, ratings: list, applicable: list[dict]) -> dict:
    """How the applicable variants rate the procedure the order names, and the better-rated alternatives
    when it is not usually appropriate. The rows are those of order-ratings (none: no procedure named)."""
    if not order_rows:
        return {"procedure": None, "label": None, "status": "no-procedure", "reason": "the order names no procedure",
                "ratings": []}
    first = order_rows[0]
    procedure = first["procedure"]
    label = first["revisionName"] or first["procedureLabel"]
    answer = {"procedure": procedure, "label": label, "ratings": []}
    if not first["known"]:
        return answer | {"status": "no-procedure", "reason": f"the ordered procedure {curie(procedure)} is not one of "
                         "the knowledge base, and no mapping leads to one"}
    for row in order_rows:
        if row["rating"] is None:
            continue
        usually = row["category"] == USUALLY_APPROPRIATE
        better = [] if usually else [
            {"procedure": r["procedure"], "label": r["label"], "category_label": r["categoryLabel"], "median": r["median"],
             "adult_rrl": r["adultSymbol"]}
            for r in ratings if r["variant"] == row["variant"] and r["median"] is not None and r["median"] > row["median"]]
        answer["ratings"].append({
            "topic_id": row["topicId"], "variant_number": row["variantNumber"], "variant": row["variant"],
            "rating": row["rating"], "category": row["category"], "category_label": row["categoryLabel"],
            "median": row["median"], "adult_rrl": row["adultSymbol"], "peds_rrl": row["pedsSymbol"],
            "usually_appropriate": usually, "better": better})
    if answer["ratings"]:
        return answer | {"status": "rated"}
    reason = ("no ACR variant applies to this patient" if not applicable
              else "the applicable variants do not rate this procedure")
    return answer | {"status": "no-criteria-apply", "reason": reason}
