"""Namespaces and the one prefix table: every IRI shortened or expanded in the toolkit goes through here."""
from __future__ import annotations

ACR = "https://w3id.org/acr-kg/ontology/"
ACRKB = "https://w3id.org/acr-kg/kb/"
ACRSH = "https://w3id.org/acr-kg/shapes/"
OWN_NAMESPACE = "https://w3id.org/acr-kg/"
ONTOLOGY_IRI = "https://w3id.org/acr-kg/ontology"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SH = "http://www.w3.org/ns/shacl#"
RDF_TYPE = RDF + "type"

# prefix -> namespace, our own first: the first namespace that starts an IRI gives its CURIE.
PREFIXES = {
    "acr": ACR,
    "acrkb": ACRKB,
    "acrsh": ACRSH,
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "xsd": XSD,
    "sh": SH,
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
}


def curie(iri: str | None, prefixes: dict[str, str] = PREFIXES) -> str:
    """``acr:Patient`` for an IRI in a known namespace, else the IRI itself; '' for None."""
    if not iri:
        return ""
    for prefix, namespace in prefixes.items():
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return f"{prefix}:{iri[len(namespace):]}"
    return iri


def expand(text: str, prefixes: dict[str, str] = PREFIXES) -> str:
    """The IRI of a CURIE with one of our prefixes (``acrkb:proc-us-axilla``); any other text as it is."""
    prefix, sep, local = text.partition(":")
    if sep and prefix in prefixes and not local.startswith("//"):
        return prefixes[prefix] + local
    return text


def sparql_prefixes(prefixes: dict[str, str] = PREFIXES) -> str:
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in prefixes.items())
