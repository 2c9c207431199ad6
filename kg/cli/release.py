"""``acr-kg release``: write the merged ontology as Turtle, RDF/XML and JSON-LD."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from kg.kb.release import release


@click.command("release")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the release into (replaced as a whole): acr-kg.ttl, .owl and .jsonld, "
                   "the SSSOM mapping set, the shapes and the queries.")
@click.option("--date", "date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Stamp this release date into owl:versionIRI and owl:versionInfo (default: the header's version).")
def command(out: Path, date: dt.datetime | None):
    """Release the merged ontology (model, patient vocabulary, knowledge base)."""
    result = release(out, date.date() if date else None)
    click.echo(f"wrote {len(result.files)} files to {result.directory}")
    click.echo(f"version {result.version_info} <{result.version_iri}>, {result.triples} triples")
