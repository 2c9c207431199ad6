"""``acr-kg check``: SHACL, HermiT consistency and SPARQL QC of the knowledge base, as one report."""
from __future__ import annotations

import json
from pathlib import Path

import click

from kg.errors import QualityCheckFailed, UsageError
from kg.kb.quality import CheckReport, check
from kg.resources import files_with_kb_dir

_COLUMNS = ("level", "check", "entity", "message")


def _table(report: CheckReport) -> str:
    rows = [(f.level, f.check, f.entity, f.message + (f" [value: {f.value}]" if f.value else ""))
            for f in report.findings]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(_COLUMNS[:3])]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(_COLUMNS[:3], widths)) + "  MESSAGE"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    counts = {level: sum(f.level == level for f in report.findings) for level in ("ERROR", "WARN", "INFO")}
    consistency = report.consistency
    lines.append("")
    lines.append(f"files: {len(report.files)}; SHACL: {'conforms' if report.shacl_conforms else 'violations'}; "
                 f"HermiT: {'consistent' if consistency.consistent else 'INCONSISTENT'} "
                 f"({consistency.seconds:.1f} s); "
                 + ", ".join(f"{n} {level}" for level, n in counts.items()))
    return "\n".join(lines)


@click.command("check")
@click.option("--kb-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Check the knowledge base files (*.ttl) of this directory with the project's model files.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Check exactly these Turtle files (repeatable; the model files must be among them).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "turtle"]), default="text", show_default=True,
              help="text: a table of findings; json: the findings as JSON; turtle: the SHACL sh:ValidationReport.")
def command(kb_dir: Path | None, files: tuple[Path, ...], fmt: str):
    """Check the ontology and knowledge base: SHACL shapes, OWL consistency (HermiT) and QC queries.

    Exits 1 on a SHACL violation, an inconsistency or an ERROR-level QC finding."""
    if kb_dir and files:
        raise UsageError("give either --kb-dir or --file, not both")
    report = check(files_with_kb_dir(kb_dir) if kb_dir else (list(files) or None))
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif fmt == "turtle":
        click.echo(report.shacl_report.serialize(format="turtle"))
    else:
        click.echo(_table(report))
    if not report.passed:
        first = report.errors[0]
        raise QualityCheckFailed(f"{len(report.errors)} error(s); first: {first.check} on {first.entity}")
