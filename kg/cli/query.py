"""acr-kg query NAME: run a named query of queries/ on the knowledge base, optionally with a patient."""
from __future__ import annotations

import sys

import click

from kg import queries
from kg.cli.options import (backend_option, input_format_option, kb_dir_option, now_option, output_option,
                            thresholds_option)
from kg.errors import UsageError
from kg.input import read_graph, read_patients
from kg.output import ROWS_WRITERS, TRIPLES_WRITERS, validation_text
from kg.output.files import output_stream
from kg.recommend import Engine, Request
from kg.resources import files_with_kb_dir
from kg.store import open_backend, open_patient_store
from kg.validate import KnowledgeContext, check_thresholds


def _pairs(_ctx, _param, values):
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        if key in pairs:
            raise click.BadParameter(f"{key} is given twice ({pairs[key]!r} and {value!r}); a parameter takes one value")
        pairs[key] = value
    return pairs


def _answer(store, query, values, output_format: str) -> str:
    if query.form == "SELECT":
        if output_format not in ROWS_WRITERS:
            raise UsageError(f"query {query.name!r} is a SELECT query: use --format {', '.join(sorted(ROWS_WRITERS))}")
        return ROWS_WRITERS[output_format](store.select(query.text, values))
    if query.form in ("CONSTRUCT", "DESCRIBE"):
        if output_format not in TRIPLES_WRITERS:
            if output_format != "table":  # the default: say nothing, answer in Turtle
                raise UsageError(f"query {query.name!r} is a {query.form} query: use --format turtle")
            output_format = "turtle"
        return TRIPLES_WRITERS[output_format](store.construct(query.text, values))
    return ("true" if store.ask(query.text, values) else "false") + "\n"


@click.command("query")
@click.argument("name", required=False)
@click.option("--param", "params", multiple=True, callback=_pairs, metavar="KEY=VALUE",
              help="A query parameter (repeatable); --list shows each query's parameters.")
@click.option("--patient", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Validate a patient graph and load it with its derived facts before the query runs.")
@click.option("--data", "data_files", multiple=True, type=click.Path(dir_okay=False),
              help="An RDF file loaded as it is beside the knowledge base (repeatable): a cohort's results.ttl, "
                   "for the population queries cohort/*. Not a patient graph: neither validated nor derived.")
@input_format_option
@now_option
@thresholds_option
@backend_option
@kb_dir_option
@click.option("--format", "output_format", type=click.Choice(sorted({*ROWS_WRITERS, *TRIPLES_WRITERS})),
              default="table", show_default=True,
              help="SELECT: a table, SPARQL JSON or TSV results, our JSON, or CSV. CONSTRUCT: Turtle.")
@output_option
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and their parameters.")
def command(name, params, patient, data_files, input_format, now, thresholds, backend, kb_dir, output_format, output,
            list_queries):
    """Run the named query NAME (the file queries/NAME.rq) and print its answer."""
    if list_queries or not name:
        for query in queries.catalogue().values():
            args = " ".join(f"--param {p.name}=<{p.type}>" for p in query.params)
            click.echo(f"{query.name:<36} {query.form:<9} {query.description}" + (f"\n{'':<46} {args}" if args else ""))
        return
    query = queries.get(name)
    values = query.coerce(params)
    kb_files = files_with_kb_dir(kb_dir) if kb_dir else None
    if patient is not None and data_files:
        raise UsageError("give either --patient (a patient graph, validated) or --data (RDF loaded as it is), not both")
    if patient is None:
        store = open_patient_store(backend, kb_files) if data_files else open_backend(backend, kb_files)
        # unused here, but a wrong key is still wrong: checked against the knowledge base loaded, or, for a
        # remote endpoint (which may hold no threshold sets), against ours
        check_thresholds(thresholds, KnowledgeContext.read(store) if kb_files else None)
        if data_files:
            store.set_patients([quad for path in data_files for quad in read_graph(path, input_format)])
        answer = _answer(store, query, values, output_format)
    else:
        engine = Engine(backend=backend, kb_files=kb_files)
        records = read_patients(patient, input_format, now=now)
        if len(records) != 1:
            raise UsageError(f"{patient} holds {len(records)} patients; --patient takes one")
        with engine.loaded(Request(records[0], now, thresholds)) as (loaded, store):
            if not loaded.valid:
                click.echo(validation_text(loaded), nl=False)
                sys.exit(1)
            answer = _answer(store, query, values, output_format)
    with output_stream(output) as out:
        out.write(answer)
