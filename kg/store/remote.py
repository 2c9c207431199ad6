"""A SPARQL 1.1 endpoint reached by the SPARQL protocol (e.g. ``oxigraph serve``): read-only.

A remote answer is input we did not write: the connection and each read have a timeout, the whole
answer a deadline and a size limit, and a redirect is followed only to the same scheme, host and port.
Every failure is an EndpointError (exit 2) with one line.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pyoxigraph as ox

from kg.errors import EndpointError
from kg.store.base import Rows
from kg.store.terms import BNode, IRI, bind, from_oxigraph, literal_value

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise EndpointError(f"{req.full_url} redirects to another address ({newurl}); not followed")
        if code in (307, 308):  # the query is sent again, as the status asks (urllib would refuse a POST)
            return urllib.request.Request(newurl, data=req.data, headers=dict(req.header_items()), method=req.get_method())
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class RemoteEndpoint:
    name = "remote"
    concurrent = False
    values_tables = False

    def __init__(self, url: str, *, timeout: float = 10.0, deadline: float = 60.0,
                 max_bytes: int = MAX_RESPONSE_BYTES):
        self.url = url
        self.timeout = timeout  # connecting, and each read
        self.deadline = deadline  # the whole answer: a server that trickles bytes is cut off
        self.max_bytes = max_bytes
        self._opener = urllib.request.build_opener(_SameOriginRedirects)

    def _post(self, query: str, accept: str) -> bytes:
        body = urllib.parse.urlencode({"query": query}).encode()
        request = urllib.request.Request(self.url, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": accept})
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                chunks, size = [], 0
                while chunk := response.read1(_CHUNK):  # whatever has arrived: the deadline is checked often
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise EndpointError(f"{self.url} answered more than {self.max_bytes // (1024 * 1024)} MB; refused")
                    if time.monotonic() - started > self.deadline:
                        raise EndpointError(f"{self.url} did not finish its answer within {self.deadline:g} s")
                    chunks.append(chunk)
                return b"".join(chunks)
        except urllib.error.HTTPError as exc:
            detail = " ".join(exc.read(500).decode(errors="replace").split())
            raise EndpointError(f"{self.url} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EndpointError(f"cannot reach SPARQL endpoint {self.url}: {reason}") from None

    def _json(self, query: str, params) -> dict:
        data = self._post(bind(query, params), "application/sparql-results+json")
        try:
            answer = json.loads(data)
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            return answer
        except (ValueError, RecursionError) as exc:
            raise EndpointError(f"{self.url} did not answer SPARQL JSON results: {exc}") from None

    def select(self, query, params=None) -> Rows:
        data = self._json(query, params)
        try:
            names = list(data["head"]["vars"])
            rows = [{n: _from_json_term(b.get(n)) for n in names} for b in data["results"]["bindings"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise EndpointError(f"{self.url} answered malformed SPARQL JSON results (missing {exc})") from None
        return Rows(names, rows)

    def ask(self, query, params=None) -> bool:
        answer = self._json(query, params).get("boolean")
        if not isinstance(answer, bool):
            raise EndpointError(f"{self.url} answered an ASK query without a boolean")
        return answer

    def construct(self, query, params=None):
        data = self._post(bind(query, params), "application/n-triples")
        try:
            return [(from_oxigraph(t.subject), from_oxigraph(t.predicate), from_oxigraph(t.object))
                    for t in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)]
        except (SyntaxError, ValueError) as exc:
            raise EndpointError(f"{self.url} did not answer N-Triples: {exc}") from None


def _from_json_term(term):
    if term is None:
        return None
    kind = term["type"]
    if kind == "uri":
        return IRI(term["value"])
    if kind == "bnode":
        return BNode(term["value"])
    return literal_value(term["value"], term.get("datatype"), term.get("xml:lang"))
