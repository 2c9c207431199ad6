"""``acr-kg import``: ACR rating tables (CSV, TSV, XLSX) into a knowledge base directory, with a QC report."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from kg.cli.options import date_value
from kg.errors import QualityCheckFailed
from kg.kb.tables import OUTPUT_NAME, import_tables


@click.command("import")
@click.argument("tables", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="KBDIR",
              help=f"Directory to write: the project's knowledge base files and {OUTPUT_NAME}.")
@click.option("--edition", callback=date_value, default=None, metavar="YYYY-MM-DD",
              help="The date of the ACR edition the tables show; names the revisions of the imported topics.")
@click.option("--source-name", default=None, metavar="TEXT",
              help="Title of the tables' source in the graph (default: the file name).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="The QC report as a table for reading, or as JSON.")
def command(tables: tuple[Path, ...], out: Path, edition: dt.date | None, source_name: str | None,
            output_format: str) -> None:
    """Import ACR rating tables as linked data and report on their quality.

    Each TABLE has the appendix columns (Procedure, Appropriateness Category, SOE, Adult RRL, Peds RRL,
    Rating, Median) and Panel, Topic (title and/or Topic ID) and Variant. KBDIR is then a knowledge
    base for `acr-kg check --kb-dir KBDIR`. Exits 1 when the report has an ERROR (KBDIR is written anyway).
    """
    result = import_tables(list(tables), out=out, edition=edition, source_name=source_name)
    report = result.report
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if output_format == "json" else report.text())
    if not report.passed:
        first = report.errors[0]
        raise QualityCheckFailed(f"{len(report.errors)} error(s) in the tables; first: {first.check} at {first.where}")
