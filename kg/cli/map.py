"""``acr-kg map``: look a terminology code up among our concepts, or list a concept's codes."""
from __future__ import annotations

import json

import click

from kg.cli.options import backend_option, kb_dir_option
from kg.resources import files_with_kb_dir
from kg.terminology.crosswalk import Answer, Concept, Link, lookup
from kg.store import open_backend

# What each SKOS predicate says about the code, read from our concept's side.
_GLOSS = {
    "skos:exactMatch": "same meaning",
    "skos:closeMatch": "similar meaning",
    "skos:broadMatch": "the code is broader",
    "skos:narrowMatch": "the code is narrower",
}


def _quoted(label: str | None) -> str:
    return f' "{label}"' if label else ""


def _confidence(link: Link) -> str:
    return f", confidence {link.confidence:.2f}" if link.confidence is not None else ""


def _ratings(concept: Concept, indent: str) -> list[str]:
    if not concept.ratings:
        return []
    lines = [f"{indent}ratings of {concept.curie}:"]
    for r in concept.ratings:
        median = f", median {r.median}" if r.median is not None else ""
        revision = f" ({r.revision} revision)" if r.revision else ""
        lines.append(f"{indent}  topic {r.topic} variant {r.variant}: {r.category_label or r.category}{median}{revision}")
    return lines


def _link_line(link: Link, show_subject: bool) -> str:
    subject = f"{link.subject_curie} " if show_subject else ""
    if link.no_term_found:
        return f"{subject}no code found"
    return (f"{subject}{link.predicate} {link.object_curie}{_quoted(link.object_label)}"
            f" ({_GLOSS.get(link.predicate, link.predicate)}{_confidence(link)})")


def format_text(answer: Answer) -> str:
    lines = []
    if answer.kind == "concept":
        concept = answer.concepts[0]
        lines.append(f"{answer.curie}{_quoted(concept.label)} <{answer.iri}>")
        if not answer.links:
            lines.append("  no codes recorded in the mapping set")
        for link in answer.links:
            lines.append(f"  {link.terminology or 'any terminology'}: {_link_line(link, show_subject=False)}")
            if link.comment:
                lines.append(f"      {link.comment}")
        lines += _ratings(concept, "  ")
    else:
        label = next((link.object_label for link in answer.links if link.object_label), None)
        lines.append(f"{answer.curie}{_quoted(label)} <{answer.iri}>")
        for concept in answer.concepts:
            lines.append(f"  {concept.curie}{_quoted(concept.label)}")
            for link in answer.links:
                if link.subject == concept.iri:
                    lines.append(f"    {_link_line(link, show_subject=True)}")
                    if link.comment:
                        lines.append(f"      {link.comment}")
            lines += _ratings(concept, "    ")
    return "\n".join(lines)


@click.command("map")
@click.argument("code_or_concept", metavar="CURIE_OR_IRI")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Plain text for people, JSON for programs.")
@backend_option
@kb_dir_option
def command(code_or_concept: str, output_format: str, backend: str, kb_dir):
    """Cross-walk between terminology codes and acr-kg concepts.

    Give a code (LOINC:80852-7, SNOMED:1229973008, RPID572, RADLEX:RID2470, or a full IRI) to see the
    concepts it maps to, with the SKOS predicate, the confidence and the ACR ratings of each; or give one
    of our concepts (acrkb:proc-us-axilla, acr:cN1) to see its codes in every terminology. Exit code 2
    when the code is not in the mapping set or the prefix is unknown.
    """
    answer = lookup(code_or_concept, backend=open_backend(backend, files_with_kb_dir(kb_dir) if kb_dir else None))
    if output_format == "json":
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_text(answer))
