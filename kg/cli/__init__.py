"""The ``acr-kg`` command line: a thin layer over the library, one module per verb, loaded only when
its verb is called (so ``--version`` and ``recommend`` do not pay for pySHACL, owlready2 or rdflib's
SPARQL engine).

This is the one place that turns errors into messages and exit codes: 0 an answer, 1 invalid patient
data or a failed check, 2 unreadable input or wrong usage, 3 an internal error. One line on stderr, and
a traceback only with ``--debug``.
"""
from __future__ import annotations

import importlib
import sys
import traceback

import click

from kg.errors import AcrKgError

# Verb -> module of kg.cli exposing a click command named `command`.
VERBS = {"validate": "validate", "recommend": "recommend", "query": "query", "check": "check",
         "release": "release", "build": "build", "map": "map", "import": "import_", "serve": "serve",
         "cohort": "cohort"}
INTERNAL_ERROR = 3


class _Group(click.Group):
    def list_commands(self, ctx):
        return sorted(VERBS)

    def get_command(self, ctx, name):
        if name not in VERBS:
            return None
        return importlib.import_module(f"kg.cli.{VERBS[name]}").command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AcrKgError as exc:
            _fail(ctx, f"error: {exc}", exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except RecursionError:
            _fail(ctx, "error: the input is nested too deeply to be read", 2)
        except Exception as exc:  # a bug of ours: say so in one line, never as an answer
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  INTERNAL_ERROR)


def _fail(ctx, message: str, code: int):
    if ctx.obj and ctx.obj.get("debug"):
        traceback.print_exc()
    click.echo(f"acr-kg: {' '.join(message.split())}"[:2000], err=True)
    sys.exit(code)


def _version() -> str:
    from kg import __version__

    return __version__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="acr-kg")
@click.option("--debug", is_flag=True, help="Print the traceback of an error.")
@click.pass_context
def main(ctx, debug: bool):
    """ACR Appropriateness Criteria as linked data: validate patient graphs, derive recommendations,
    query and check the knowledge base."""
    ctx.obj = {"debug": debug}
