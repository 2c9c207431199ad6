"""The same named queries on three engines: embedded pyoxigraph, rdflib, and `oxigraph serve` over HTTP."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kg import queries
from locations import EXAMPLES_DIR
from kg.input.reader import read_patient
from kg.recommend import Engine
from kg.store import EmbeddedStore, knowledge_base_nquads
from kg.store.remote import RemoteEndpoint

VALID_EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.ttl"))


@pytest.fixture(scope="module")
def rdflib_recommender():
    return Engine(backend="rdflib")


@pytest.mark.parametrize("name", VALID_EXAMPLES)
def test_rdflib_engine_gives_the_same_answer(recommender, rdflib_recommender, name):
    data = read_patient(EXAMPLES_DIR / name)
    embedded = recommender.recommend(data).as_dict()
    reference = rdflib_recommender.recommend(data).as_dict()
    assert embedded["valid"] and embedded["not_applicable"]  # a real answer, not an empty one
    assert reference == embedded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def oxigraph_server(tmp_path_factory):
    """A real `oxigraph serve` on 127.0.0.1 holding the knowledge base."""
    binary = shutil.which("oxigraph", path=str(Path(sys.executable).parent))
    assert binary, "the oxigraph server binary comes with the 'oxigraph' test dependency"
    port = _free_port()
    location = tmp_path_factory.mktemp("oxigraph")
    process = subprocess.Popen([binary, "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/query?query=ASK%7B%7D", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"oxigraph serve did not start: {process.stderr.read1().decode()}")
        upload = urllib.request.Request(f"{base}/store?default", data=knowledge_base_nquads(), method="POST",
                                        headers={"Content-Type": "application/n-quads"})
        urllib.request.urlopen(upload, timeout=30).read()
        yield f"{base}/query"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_remote_endpoint_answers_like_the_embedded_store(oxigraph_server):
    query = queries.get("topic-ratings")
    remote = RemoteEndpoint(oxigraph_server).select(query.text, {"topic": 235})
    local = EmbeddedStore().select(query.text, {"topic": 235})
    assert len(remote) == 60
    assert remote.rows == local.rows


def test_cli_query_against_the_endpoint(cli, oxigraph_server):
    result = cli("query", "topic-ratings", "--param", "topic=286", "--backend", oxigraph_server, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["rows"]) == 10


def test_unreachable_endpoint_is_a_clear_error(cli):
    url = f"http://127.0.0.1:{_free_port()}/query"
    result = cli("query", "topic-ratings", "--param", "topic=235", "--backend", url)
    assert result.exit_code == 2 and f"cannot reach SPARQL endpoint {url}" in result.stderr


def test_remote_endpoint_is_read_only_for_patients(oxigraph_server):
    from kg.errors import UsageError

    with pytest.raises(UsageError, match="read-only"):
        Engine(backend=oxigraph_server)
