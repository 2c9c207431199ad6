"""A remote SPARQL endpoint is input we did not write: timeouts, a deadline, a size limit and no
redirect to another address, each failure one line and exit 2. Real HTTP servers on 127.0.0.1."""
from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from kg.errors import EndpointError
from kg.store.remote import RemoteEndpoint

QUERY = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"
RESULTS = json.dumps({"head": {"vars": ["s"]}, "results": {"bindings": [
    {"s": {"type": "uri", "value": "https://example.org/s"}}]}}).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        behaviour = self.server.behaviour
        if behaviour == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        elif behaviour == "garbage":
            self._answer(200, b"\x00\x01 this is not JSON")
        elif behaviour == "huge":
            self._answer(200, b"[" + b"1," * 100_000 + b"1]")
        elif behaviour == "error":
            self._answer(500, b"the server broke\n\nbadly")
        elif behaviour == "moved" and "moved" not in self.path:
            self.send_response(307)
            self.send_header("Location", self.path + "?moved")
            self.end_headers()
        elif behaviour.startswith("redirect "):
            self.send_response(307)
            self.send_header("Location", behaviour.split(" ", 1)[1])
            self.end_headers()
        else:
            self._answer(200, RESULTS)

    def _answer(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.behaviour = "ok"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/query"
    httpd.shutdown()
    httpd.server_close()


def test_a_good_answer_is_read(server):
    _httpd, url = server
    assert RemoteEndpoint(url).select(QUERY).rows == [{"s": "https://example.org/s"}]


def test_a_server_that_trickles_bytes_is_cut_off_at_the_deadline(server):
    httpd, url = server
    httpd.behaviour = "trickle"
    started = time.monotonic()
    with pytest.raises(EndpointError, match="did not finish its answer within 1 s"):
        RemoteEndpoint(url, timeout=2, deadline=1).select(QUERY)
    assert time.monotonic() - started < 3


def test_an_answer_over_the_size_limit_is_refused(server):
    httpd, url = server
    httpd.behaviour = "huge"
    with pytest.raises(EndpointError, match="answered more than"):
        RemoteEndpoint(url, max_bytes=64 * 1024).select(QUERY)


def test_a_redirect_to_another_address_is_not_followed(server):
    httpd, url = server
    httpd.behaviour = "redirect http://127.0.0.2:9/query"
    with pytest.raises(EndpointError, match="redirects to another address"):
        RemoteEndpoint(url).select(QUERY)


def test_a_redirect_on_the_same_server_is_followed(server):
    httpd, url = server
    httpd.behaviour = "moved"  # the first request is sent on to the same server, which then answers
    assert RemoteEndpoint(url).select(QUERY).rows


@pytest.mark.parametrize("behaviour, message", [("garbage", "did not answer SPARQL JSON results"),
                                                ("error", "answered HTTP 500: the server broke badly")])
def test_the_command_line_says_it_in_one_line_with_exit_2(cli, server, behaviour, message):
    httpd, url = server
    httpd.behaviour = behaviour
    result = cli("query", "topic-ratings", "--param", "topic=235", "--backend", url)
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
