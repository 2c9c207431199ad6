"""The importer of ACR rating tables: CSV, TSV and XLSX in, our model as Turtle out, with a QC report.

``import_tables`` is the one entry point. The stages, one module each: ``reader`` (files to rows),
``clean`` (what real tables carry), ``catalogue`` (the schemes and the knowledge base the rows are
matched to), ``assemble`` (rows to panels, topics, variants, procedures and ratings), ``qc`` (the
report), ``write`` and ``turtle`` (triples and their text).
"""
from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kg.errors import InputError, UsageError
from kg.kb.tables import catalogue as catalogue_module
from kg.kb.tables.assemble import Assembler
from kg.kb.tables.qc import Report
from kg.kb.tables.turtle import Graph
from kg.kb.tables.write import Writer
from kg.resources import kb_dir

OUTPUT_NAME = "imported-tables.ttl"


@dataclass
class ImportResult:
    graph: Graph
    report: Report
    turtle: str


def import_tables(tables: Sequence[Path], *, out: Path | None = None, edition: dt.date | None = None,
                  source_name: str | None = None, catalogue_files: Iterable[Path] | None = None,
                  header: str | None = None) -> ImportResult:
    """Read the tables, match them to the knowledge base of ``catalogue_files`` (default: the project's),
    and return the new triples as Turtle with the QC report.

    With ``out``, the directory becomes a knowledge base of its own: the project's knowledge base files
    and ``imported-tables.ttl``, ready for ``acr-kg check --kb-dir`` and for queries.
    """
    if out is not None and Path(out).resolve() == kb_dir().resolve():
        raise UsageError(f"--out {out} is the project's own knowledge base; generated files there are "
                         "written by `acr-kg build`")
    catalogue = catalogue_module.load(catalogue_files)
    assembler = Assembler(catalogue)
    for table in tables:
        assembler.add_table(Path(table), edition=edition, source_name=source_name)
    assembly = assembler.finish()
    graph = Writer(assembly, catalogue).build()
    report = Report([str(t) for t in tables], assembly.rows, {
        "ratings": len(assembly.ratings),
        "variants": sum(not v.known for v in assembly.variants.values()),
        "topics": sum(not t.known for t in assembly.topics.values()),
        "procedures": sum(not p.known for p in assembly.procedures.values()),
        "triples": len(graph),
    }, assembly.findings)
    report.sort()
    if header is None:
        header = ("# Written by `acr-kg import` from " + ", ".join(Path(t).name for t in tables) + ".\n"
                  "# ACR content: see the dcterms:rights of each table's source. Do not redistribute without the "
                  "ACR's permission.")
    turtle = graph.turtle(header)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(kb_dir().glob("*.ttl")):
            shutil.copyfile(path, out / path.name)
        (out / OUTPUT_NAME).write_text(turtle, encoding="utf-8")
    return ImportResult(graph, report, turtle)


def curated_ratings_turtle(table: Path, catalogue_files: Iterable[Path]) -> str:
    """The ratings of a table the project typed from its own sources (it has a sidecar), for `acr-kg build`.

    ``catalogue_files`` are the hand-written files; a table that fails its QC is an error, not a file.
    """
    result = import_tables([table], catalogue_files=catalogue_files, header=(
        f"# GENERATED FILE: do not edit. `acr-kg build` writes it by importing ontology/kb/tables/{table.name}\n"
        f"# (its sources, revision and curation activity are named in {table.stem}.sources.yaml beside it).\n"
        "# The ratings are ACR facts; the rationales of some of them are hand-written in the topic's own file."))
    if not result.report.passed:
        first = result.report.errors[0]
        raise InputError(f"{first.check}: {first.message}", source=first.where)
    return result.turtle
