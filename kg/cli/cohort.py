"""acr-kg cohort SOURCE... --out DIR: every patient of a population, with a summary.

This file is also what spark-submit runs (it takes a file, not a command): ``spark-submit ... kg/cli/cohort.py
SOURCE... --out DIR`` is ``acr-kg cohort SOURCE... --out DIR --engine spark``.
"""
from __future__ import annotations

import os
import sys

import click

from kg.cli.options import now_option, thresholds_option


@click.command("cohort")
@click.argument("sources", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the result files.")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default="the number of cores",
              help="Worker processes, each with an engine of its own.")
@click.option("--format", "formats", type=click.Choice(["parquet", "turtle"]), multiple=True,
              help="turtle adds results.ttl (the derived facts) for population queries (queries/cohort/).")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: worker processes on this machine; spark: Apache Spark (local mode with --workers cores, "
                   "or the cluster of spark-submit; needs the spark extra). Spark writes folders of part files.")
@click.option("--resume", is_flag=True,
              help="Skip the chunks a previous run over the same inputs wrote; refused when a file changed "
                   "(path, size or modification time), an option differs, or a source is stdin.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Inputs per chunk (default 2,000).")
@now_option
@thresholds_option
def command(sources, out, workers, formats, engine, resume, chunk_size, now, thresholds):
    """Evaluate every patient of each SOURCE: a Bulk Data NDJSON folder or file, a folder of patient files
    (Turtle, JSON-LD, FHIR JSON), a .jsonl file or - for JSON Lines on stdin (one object a line:
    {"id", "turtle"} or {"id", "jsonld"}, or a FHIR resource or Bundle).

    Writes OUT/results.parquet (one row per patient), answers.jsonl, errors.jsonl (inputs that could not
    be read, with the reason) and summary.json, and prints the summary.
    """
    from kg.cohort import CHUNK_SIZE, run_cohort

    summary = run_cohort(list(sources), out=out, workers=workers, engine=engine, now=now, thresholds=thresholds,
                         formats=("parquet", *formats), resume=resume, chunk_size=chunk_size or CHUNK_SIZE)
    click.echo(summary_text(summary), nl=False)


def summary_text(summary: dict) -> str:
    lines = [f"inputs: {summary['inputs']}  patients: {summary['patients']} (valid {summary['valid']}, "
             f"invalid {summary['invalid']})  errors: {summary['errors']}",
             f"time: {summary['seconds']:.1f} s  ({summary['inputs_per_second']:.0f} inputs/s)"]
    for title, key in (("variants", "variants"), ("order status", "order_status"),
                       ("ordered procedure rated", "order_rating"), ("missing facts", "missing")):
        counts = summary.get(key) or {}
        lines.append(f"{title}:" + ("" if counts else " none"))
        lines += [f"  {count:>8}  {name}" for name, count in counts.items()]
    lines.append(f"no variant applies: {summary.get('no_variant', 0)}")
    return "\n".join(lines) + "\n"


def spark_submit(argv: list[str]) -> None:
    """The entry of spark-submit: the arguments of ``acr-kg cohort``, on Spark, through the command group
    so that errors become the same messages and exit codes."""
    from kg.cli import main

    main.main(args=["cohort", *argv, "--engine", "spark"], prog_name="acr-kg", standalone_mode=True)


if __name__ == "__main__":
    spark_submit(sys.argv[1:])
