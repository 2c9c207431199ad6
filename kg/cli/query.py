"""acr-kg query NAME: run a named query of queries/ on the knowledge base, optionally with a patient."""
from __future__ import annotations

import sys

import click

from kg import queries
from kg.cli.options import backend_option, format_option, input_format_option, now_option, thresholds_option
from kg.errors import UsageError
from kg.input.reader import read_patient
from kg.recommend import Recommender
from kg.output import ROWS_WRITERS, validation_text
from kg.store import open_backend


def _pairs(_ctx, _param, values):
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


@click.command("query")
@click.argument("name", required=False)
@click.option("--param", "params", multiple=True, callback=_pairs, metavar="KEY=VALUE",
              help="A query parameter (repeatable); --list shows each query's parameters.")
@click.option("--patient", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Validate a patient graph and load it with its derived facts before the query runs.")
@input_format_option
@now_option
@thresholds_option
@backend_option
@format_option(ROWS_WRITERS, "table", "A table for reading, JSON, or CSV.")
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and their parameters.")
def command(name, params, patient, input_format, now, thresholds, backend, output_format, list_queries):
    """Run the named SELECT query NAME (the file queries/NAME.rq) and print its rows."""
    if list_queries or not name:
        for query in queries.catalogue().values():
            args = " ".join(f"--param {p.name}=<{p.type}>" for p in query.params)
            click.echo(f"{query.name:<36} {query.description}" + (f"\n{'':<36} {args}" if args else ""))
        return
    query = queries.get(name)
    if query.form != "SELECT":
        raise UsageError(f"query {name!r} is a {query.form} query; `acr-kg query` prints SELECT results only")
    values = query.coerce(params)
    store = open_backend(backend)
    if patient is not None:
        loaded = Recommender(store).load(read_patient(patient, input_format), now=now, thresholds=thresholds)
        if not loaded.valid:
            click.echo(validation_text(loaded.validation, patient), nl=False)
            sys.exit(1)
    click.echo(ROWS_WRITERS[output_format](store.select(query.text, values)), nl=False)
