"""acr-kg query NAME: run a named query of queries/ on the knowledge base (and an optional patient)."""
from __future__ import annotations

import click

from kg import queries
from kg.cli.options import backend_option, input_format_option
from kg.errors import UsageError
from kg.patient import read_patient
from kg.render import ROWS_WRITERS
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
              help="A query parameter (repeatable); see --list for each query's parameters.")
@click.option("--patient", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also load a patient graph (as given, without derivation) into the embedded store.")
@input_format_option
@backend_option
@click.option("--format", "output_format", type=click.Choice(sorted(ROWS_WRITERS)), default="table", show_default=True)
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and their parameters.")
def command(name, params, patient, input_format, backend, output_format, list_queries):
    """Run the named query NAME (a file queries/NAME.rq) and print its rows."""
    if list_queries or not name:
        for query in queries.catalogue().values():
            args = " ".join(f"--param {p.name}=<{p.type}>" for p in query.params)
            click.echo(f"{query.name:<24} {query.description}" + (f"\n{'':<24}   {args}" if args else ""))
        return
    query = queries.get(name)
    values = query.coerce(params)
    store = open_backend(backend)
    if patient is not None:
        store.set_patient(read_patient(patient, input_format).quads)
    if query.form != "SELECT":
        raise UsageError(f"query {name!r} is a {query.form} query; `acr-kg query` prints SELECT results only")
    click.echo(ROWS_WRITERS[output_format](store.select(query.text, values)), nl=False)
