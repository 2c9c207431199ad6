"""Shared fixtures: real engines only (pyoxigraph, rdflib, pySHACL, HermiT, oxigraph serve)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kg.cli import main
from locations import EXAMPLES_DIR
from kg.input import read_patient
from kg.recommend import Engine


@pytest.fixture(scope="session")
def recommender() -> Engine:
    """One engine for the whole run: it is immutable and safe to share."""
    return Engine()


@pytest.fixture(scope="session")
def recommend_example(recommender):
    """Recommend for an example file by name; returns the JSON-shaped dict."""
    def run(name: str, **kwargs) -> dict:
        return json.loads(json.dumps(recommender.recommend(read_patient(EXAMPLES_DIR / name), **kwargs).as_dict()))
    return run


@pytest.fixture()
def cli():
    """Invoke the real `acr-kg` command in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
    return run
