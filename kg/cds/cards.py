"""From the engine's answer for one draft imaging order to what the EHR shows and records: a card, and
the appropriateness rating on the order as the Argonaut "CDS Hooks for PAMA" profile carries it.

The rating of an order is the least favourable rating among the ACR variants that apply: one
applicable criterion that rates the procedure "Usually not appropriate" contra-indicates it
(``not-appropriate``), whatever another topic says; the disagreement is shown on the card. "May be
appropriate" is not a contra-indication, so it rates ``appropriate`` for PAMA, and the card is a
warning with the ACR category kept as a translation coding. Invalid data and an ordered examination
the knowledge base does not know get a card and no rating at all (the profile forbids a rating that
could not be determined); "no criteria apply" is a rating of its own, with the reasons on the card.
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from kg.cds.feedback import Consultation, IssuedCard
from kg.cds.models import Action, Card, Coding, Source, Suggestion
from kg.terms import ACR, ACRKB

PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
PAMA_RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
PAMA_CONSULT_ID = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
PAMA_AUC_APPLIED = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied"
PAMA_QCDSM = "http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted"
PAMA_EXTENSIONS = (PAMA_RATING, PAMA_CONSULT_ID, PAMA_AUC_APPLIED, PAMA_QCDSM)
# Our own code systems for the translations (no terminology codes the ACR categories or medians):
# a category's code is its local name, so system + code is its IRI; a median's code is the number.
CATEGORY_SYSTEM = ACR
MEDIAN_SYSTEM = ACR + "median"
PROCEDURE_SYSTEM = ACRKB
OVERRIDE_SYSTEM = "https://w3id.org/acr-kg/cds/override-reason"
OVERRIDE_REASONS = (
    ("patient-factors", "Patient factors not captured in the record"),
    ("record-incomplete", "The record used for the rating is incomplete or wrong"),
    ("alternative-unsuitable", "The suggested examination is contraindicated or unavailable"),
    ("agreed-with-radiology", "Agreed with radiology or the tumour board"),
)
# Least favourable first: the rating of an order is the first of its ratings in this order.
_RANK = {ACR + "UsuallyNotAppropriate": 0, "Usually not appropriate": 0,
         ACR + "MayBeAppropriate": 1, "May be appropriate": 1,
         ACR + "MayBeAppropriateDisagreement": 1, "May be appropriate (Disagreement)": 1,
         ACR + "UsuallyAppropriate": 2, "Usually appropriate": 2}
SUMMARY_LIMIT = 139
NOT_APPLICABLE_SHOWN = 12  # variants listed on a "no criteria apply" card; the rest are counted


@dataclass(frozen=True)
class OrderAnswer:
    """What one draft order gets: its card, the rating action (None: no rating) and the log rows."""

    card: Card
    rating_action: Action | None
    consultation: Consultation
    issued: IssuedCard


@dataclass(frozen=True)
class Context:
    """What every card of a call shares."""

    service: str
    hook_instance: str
    knowledge_base: str
    gcode: str
    codes: dict[str, list[dict[str, str]]]  # procedure IRI -> FHIR codings of its standard codes


def source(knowledge_base: str) -> Source:
    version = knowledge_base.rstrip("/").rsplit("/", 1)[-1] if knowledge_base else "unknown"
    return Source(label=f"ACR Appropriateness Criteria, acr-kg knowledge base {version}",
                  url=knowledge_base or None)


def short(text: str, limit: int = SUMMARY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def ordered_label(order: dict | None, service_request: dict) -> str:
    if order and order.get("label"):
        return order["label"]
    code = service_request.get("code") or {}
    return code.get("text") or next((c.get("display") or c.get("code") for c in code.get("coding") or []
                                     if c.get("display") or c.get("code")), None) or "the ordered examination"


# --- the one entry point --------------------------------------------------------------------------

def _rank(rating: dict) -> int | None:
    """0 not appropriate, 1 may be, 2 usually appropriate; None for a category this service does not know."""
    return _RANK.get(rating.get("category"), _RANK.get(rating.get("category_label")))


def answer_order(service_request: dict, answer: dict, ctx: Context) -> OrderAnswer:
    """Card and rating for one draft ServiceRequest from the engine's JSON answer (``as_dict``)."""
    consult_id = f"urn:uuid:{uuid.uuid4()}"
    order = answer.get("order")
    label = ordered_label(order, service_request)
    status = (order or {}).get("status")
    if not answer.get("valid"):
        return _unrated(ctx, consult_id, service_request, order, "warning",
                        f"Cannot rate {label}: the patient record fails {len(answer.get('violations') or [])} check(s)",
                        _invalid_detail(answer, label))
    if answer.get("would_apply_if") and status in ("rated", "no-criteria-apply"):
        # facts the record leaves unknown could bring in a variant that rates the order otherwise: the
        # rating is undetermined, so none goes on the order (the card says what is missing)
        return _unrated(ctx, consult_id, service_request, order, "warning",
                        f"Cannot rate {label} yet: the record leaves facts unknown that decide which criteria apply",
                        _no_criteria_detail(answer, order, label))
    if status == "rated" and order.get("ratings"):
        if any(_rank(r) is None for r in order["ratings"]):  # a category we cannot place: no rating
            return _unrated(ctx, consult_id, service_request, order, "warning",
                            f"Cannot rate {label}: an ACR category of its ratings is not one this service knows",
                            _no_criteria_detail(answer, order, label))
        return _rated(ctx, consult_id, service_request, order, answer, label)
    if status == "no-criteria-apply":
        return _no_criteria(ctx, consult_id, service_request, order, answer, label)
    return _unrated(ctx, consult_id, service_request, order, "info",
                    f"Cannot rate {label}: not an examination the knowledge base knows",
                    _unknown_procedure_detail(answer, order, service_request, label))


# --- the cases ------------------------------------------------------------------------------------

def _rated(ctx: Context, consult_id: str, sr: dict, order: dict, answer: dict, label: str) -> OrderAnswer:
    ratings = sorted(order["ratings"], key=lambda r: (_rank(r), r.get("median") or 0))
    deciding = ratings[0]
    rank = _rank(deciding)
    code = "not-appropriate" if rank == 0 else "appropriate"
    all_usual = all(r.get("usually_appropriate") for r in ratings)
    better = [] if all_usual else _better(ratings)
    rating_codings = _rating_codings(code, deciding)
    extensions = _pama_extensions(rating_codings, consult_id, deciding.get("variant"), ctx.gcode)
    suggestions = [_suggestion(sr, alternative, consult_id, deciding.get("variant"), ctx) for alternative in better]
    if all_usual:
        where = "; ".join(f"{r['topic_id']} V{r['variant_number']} median {r.get('median')}" for r in ratings)
        summary = f"{label}: usually appropriate for this patient (ACR {where})"
    else:
        where = "; ".join(f"{r['topic_id']} V{r['variant_number']}: {_category(r).lower()} ({r.get('median')})"
                          for r in ratings)
        instead = f"; {better[0]['label']} is usually appropriate" if better else ""
        summary = f"{label} (ACR {where}){instead}"
        if len(summary) > SUMMARY_LIMIT:
            summary = (f"{label}: {_category(deciding).lower()} here (ACR {deciding['topic_id']} "
                       f"V{deciding['variant_number']}){instead}")
    card = Card(uuid=str(uuid.uuid4()), summary=short(summary), indicator="info" if all_usual else "warning",
                detail=_rated_detail(answer, order, ratings, deciding, code, better, label),
                source=source(ctx.knowledge_base),
                suggestions=suggestions or None, selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=None if all_usual else _override_reasons())
    return _answer(ctx, consult_id, sr, order, card, _rating_action(sr, extensions, code), code, deciding.get("variant"))


def _no_criteria(ctx: Context, consult_id: str, sr: dict, order: dict, answer: dict, label: str) -> OrderAnswer:
    codings = _rating_codings("no-criteria-apply", None)
    card = Card(uuid=str(uuid.uuid4()), indicator="info", source=source(ctx.knowledge_base),
                summary=short(f"No ACR criteria of this knowledge base apply to {label} for this patient"),
                detail=_no_criteria_detail(answer, order, label))
    action = _rating_action(sr, _pama_extensions(codings, consult_id, None, ctx.gcode), "no-criteria-apply")
    return _answer(ctx, consult_id, sr, order, card, action, "no-criteria-apply", None)


def _unrated(ctx: Context, consult_id: str, sr: dict, order: dict | None, indicator: str, summary: str,
             detail: str) -> OrderAnswer:
    card = Card(uuid=str(uuid.uuid4()), indicator=indicator, summary=short(summary), detail=detail,
                source=source(ctx.knowledge_base))
    return _answer(ctx, consult_id, sr, order, card, None, None, None)


def _answer(ctx: Context, consult_id: str, sr: dict, order: dict | None, card: Card, action: Action | None,
            rating: str | None, variant: str | None) -> OrderAnswer:
    consultation = Consultation(consult_id, ctx.service, ctx.hook_instance, sr.get("id"),
                                (order or {}).get("procedure"), rating, variant, ctx.knowledge_base)
    suggestions = tuple((s.uuid, s.label, _procedure_of(s)) for s in card.suggestions or ())
    issued = IssuedCard(card.uuid, consult_id, card.indicator, card.summary, suggestions)
    return OrderAnswer(card, action, consultation, issued)


# --- pieces ---------------------------------------------------------------------------------------

def _category(rating: dict) -> str:
    return rating.get("category_label") or rating.get("category") or "unrated"


def _better(ratings: list[dict]) -> list[dict]:
    """The usually appropriate alternatives that every less-than-usually-appropriate rating of the order
    names as better, in the order of the deciding rating: a test one topic prefers and another does not
    is not suggested."""
    lists = [[b for b in r.get("better") or [] if b.get("procedure") and _RANK.get(b.get("category_label")) == 2]
             for r in ratings if not r.get("usually_appropriate")]
    if not lists:
        return []
    common = set.intersection(*({b["procedure"] for b in lst} for lst in lists))
    return [b for b in lists[0] if b["procedure"] in common]


def _rating_codings(code: str, rating: dict | None) -> list[dict]:
    codings = [{"system": PAMA_RATING_SYSTEM, "code": code}]
    if rating is None:
        return codings
    category = rating.get("category")
    if category and category.startswith(ACR):
        codings.append({"system": CATEGORY_SYSTEM, "code": category[len(ACR):], "display": _category(rating)})
    if rating.get("median") is not None:
        codings.append({"system": MEDIAN_SYSTEM, "code": str(rating["median"]),
                        "display": f"ACR median rating {rating['median']} of 9"})
    return codings


def _pama_extensions(codings: list[dict], consult_id: str, variant: str | None, gcode: str) -> list[dict]:
    extensions = [{"url": PAMA_RATING, "valueCodeableConcept": {"coding": codings}}]
    if gcode:
        extensions.append({"url": PAMA_QCDSM, "valueString": gcode})
    extensions.append({"url": PAMA_CONSULT_ID, "valueUri": consult_id})
    if variant:
        extensions.append({"url": PAMA_AUC_APPLIED, "valueUri": variant})
    return extensions


def _with_extensions(resource: dict, extensions: list[dict]) -> dict:
    updated = copy.deepcopy(resource)
    kept = [e for e in updated.get("extension") or [] if e.get("url") not in PAMA_EXTENSIONS]
    updated["extension"] = kept + extensions
    return updated


def _rating_action(sr: dict, extensions: list[dict], code: str) -> Action:
    """The rating on the order: the draft as sent, with the PAMA extensions only (no other change)."""
    return Action(type="update", description=f"Record the ACR appropriateness rating ({code}) on the order",
                  resource=_with_extensions(sr, extensions))


def _suggestion(sr: dict, alternative: dict, consult_id: str, variant: str | None, ctx: Context) -> Suggestion:
    procedure = alternative["procedure"]
    codings = ctx.codes.get(procedure, []) + [
        {"system": PROCEDURE_SYSTEM, "code": procedure[len(ACRKB):] if procedure.startswith(ACRKB) else procedure,
         "display": alternative.get("label")}]
    replaced = {k: v for k, v in sr.items() if k not in ("code", "extension")}
    replaced["code"] = {"coding": codings, "text": alternative.get("label")}
    if sr.get("extension"):
        replaced["extension"] = sr["extension"]
    rating = {"category": ACR + "UsuallyAppropriate", "category_label": alternative.get("category_label")
              or "Usually appropriate", "median": alternative.get("median")}
    replaced = _with_extensions(replaced, _pama_extensions(_rating_codings("appropriate", rating), consult_id,
                                                           variant, ctx.gcode))
    return Suggestion(label=f"Order {alternative.get('label')} instead", uuid=str(uuid.uuid4()), isRecommended=True,
                      actions=[Action(type="update", resource=replaced,
                                      description=f"Replace the draft order by {alternative.get('label')}")])


def _procedure_of(suggestion: Suggestion) -> str | None:
    for action in suggestion.actions:
        for coding in ((action.resource or {}).get("code") or {}).get("coding") or []:
            if coding.get("system") == PROCEDURE_SYSTEM:
                return PROCEDURE_SYSTEM + coding["code"]
    return None


def _override_reasons() -> list[Coding]:
    return [Coding(system=OVERRIDE_SYSTEM, code=code, display=display) for code, display in OVERRIDE_REASONS]


# --- the Markdown detail --------------------------------------------------------------------------

def _md(text: Any) -> str:
    """Text from the knowledge base or the record, safe inside Markdown (no markup of its own)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in str(text))


def _applicable(answer: dict) -> dict[str, dict]:
    return {v.get("variant"): v for v in answer.get("applicable") or []}


def _procedure_rating(variant: dict | None, procedure: str | None) -> dict:
    return next((p for p in (variant or {}).get("procedures") or [] if p.get("procedure") == procedure), {})


def _rated_detail(answer: dict, order: dict, ratings: list[dict], deciding: dict, code: str, better: list[dict],
                  label: str) -> str:
    variants = _applicable(answer)
    procedure = order.get("procedure")
    lines = [f"**Ordered:** {_md(label)}: **{_md(_category(deciding))}** for this patient "
             f"(PAMA rating `{code}`; relative radiation level, adult: {_md(deciding.get('adult_rrl') or 'not given')})",
             "", "**Matched criteria**", ""]
    for rating in ratings:
        variant = variants.get(rating.get("variant"), {})
        lines.append(f"- ACR topic {rating['topic_id']}, variant {rating['variant_number']}: "
                     f"{_md(variant.get('label') or rating.get('variant'))}. Rates {_md(label)} "
                     f"**{_md(_category(rating))}** (median {rating.get('median')}).")
        reasons = variant.get("matched_because") or []
        if reasons:
            lines.append(f"  - Why it applies: {_md('; '.join(reasons))}.")
        rationale = _procedure_rating(variant, procedure).get("rationale")
        if rationale:
            lines.append(f"  - Why this rating: {_md(rationale)}")
    conflicts = [c for c in answer.get("conflicts") or [] if c.get("procedure") == procedure]
    for conflict in conflicts:
        lines += ["", f"**Conflict between topics:** {_md(conflict.get('message'))}. "
                      "The least favourable rating decides."]
    if better:
        lines += ["", "**Usually appropriate instead**", ""]
        lines += [f"- {_md(b.get('label'))}: {_md(b.get('category_label') or 'Usually appropriate')} "
                  f"(median {b.get('median')}; relative radiation level, adult: {_md(b.get('adult_rrl') or 'not given')})"
                  for b in better]
    lines += _notes(answer)
    lines += _sources(answer, [_procedure_rating(variants.get(r.get("variant")), procedure) for r in ratings])
    return "\n".join(lines)


def _no_criteria_detail(answer: dict, order: dict, label: str) -> str:
    lines = [f"No variant of the ACR criteria in this knowledge base rates {_md(label)} for this patient, "
             "so the order gets no appropriateness rating."]
    if order.get("reason"):
        lines += ["", f"**Why:** {_md(order['reason'])}"]
    would = answer.get("would_apply_if") or []
    if would:
        lines += ["", "**Criteria that could apply if these facts were known**", ""]
        lines += [f"- ACR topic {w.get('topic_id')}, variant {w.get('variant_number')}"
                  f" ({_md(_variant_label(answer, w))}): unknown: {_md('; '.join(w.get('missing') or []))}"
                  for w in would]
    elif answer.get("applicable"):
        lines += ["", "**Criteria that apply to this patient, without rating this examination**", ""]
        lines += [f"- ACR topic {v.get('topic_id')}, variant {v.get('variant_number')}: {_md(v.get('label'))}"
                  for v in answer["applicable"]]
    elif answer.get("not_applicable"):
        lines += ["", "**Why no variant applies** (the first criterion each one does not meet)", ""]
        lines += [_unmet(v) for v in answer["not_applicable"][:NOT_APPLICABLE_SHOWN]]
        hidden = len(answer["not_applicable"]) - NOT_APPLICABLE_SHOWN
        if hidden > 0:
            lines.append(f"- and {hidden} more variant{'s' if hidden != 1 else ''}")
    lines += _notes(answer)
    lines += _sources(answer, [])
    return "\n".join(lines)


def _unmet(variant: dict) -> str:
    """One variant that does not apply, with the first of its unmet criteria (the others counted)."""
    reasons = variant.get("reasons") or []
    line = (f"- ACR topic {variant.get('topic_id')}, variant {variant.get('variant_number')} "
            f"({_md(variant.get('label') or variant.get('variant'))})")
    if reasons:
        line += f": {_md(reasons[0])}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else "")
    return line


def _unknown_procedure_detail(answer: dict, order: dict | None, sr: dict, label: str) -> str:
    codes = [f"{c.get('system')}|{c.get('code')}" for c in (sr.get("code") or {}).get("coding") or []]
    lines = [f"The ordered examination ({_md(', '.join(codes) or 'no code')}) is not one the knowledge base "
             "rates or maps, so it is given no rating."]
    if order and order.get("reason"):
        lines += ["", f"**Why:** {_md(order['reason'])}"]
    usual = sorted({p.get("label") for v in answer.get("applicable") or [] for p in v.get("procedures") or []
                    if p.get("category") in ("Usually appropriate", ACR + "UsuallyAppropriate")})
    if usual:
        lines += ["", "**Usually appropriate for this patient under the matched criteria:** "
                      + _md(", ".join(usual))]
    lines += _notes(answer)
    return "\n".join(lines)


def _invalid_detail(answer: dict, label: str) -> str:
    lines = [f"The patient record, read as of {answer.get('evaluation_date')}, does not pass the checks that come "
             f"before any rating, so {_md(label)} is not rated. What is wrong:", ""]
    for violation in answer.get("violations") or []:
        where = ", ".join(_md(x) for x in (violation.get("focus"), violation.get("path")) if x)
        lines.append(f"- {_md(violation.get('message'))}" + (f" ({where})" if where else ""))
    lines += _notes(answer)
    return "\n".join(lines)


def _variant_label(answer: dict, item: dict) -> str:
    for group in ("applicable", "not_applicable"):
        for variant in answer.get(group) or []:
            if variant.get("variant") == item.get("variant"):
                return variant.get("label") or item.get("variant")
    return item.get("variant") or ""


def _notes(answer: dict) -> list[str]:
    warnings = answer.get("warnings") or []
    if not warnings:
        return []
    return ["", "**Notes on the record**", ""] + [f"- {_md(w.get('message'))}" for w in warnings]


def _sources(answer: dict, procedure_ratings: list[dict]) -> list[str]:
    cited = {s for p in procedure_ratings for s in p.get("sources") or []}
    catalogue = answer.get("sources") or []
    chosen = [s for s in catalogue if s.get("source") in cited] or catalogue
    if not chosen:
        return []
    lines = ["", "**Sources**", ""]
    for entry in chosen:
        text = entry.get("citation") or entry.get("title") or entry.get("source")
        where = "; ".join(entry.get("locators") or [])
        lines.append(f"- {_md(text)}" + (f" ({_md(where)})" if where else ""))
    lines += ["", f"Knowledge base: {_md(answer.get('knowledge_base'))}"]
    return lines
