"""The FHIR code systems the toolkit reads in records and writes in orders: one table for every room.

Each entry: the prefix our mapping set gives the terminology (kg.terminology.mappings), the URI a FHIR
Coding names it by in ``system``, and the name messages use. Where each URI comes from:
- SNOMED CT, LOINC, ICD-10-CM: the project's terminology reference (shared/reference/terminology.md);
- RxNorm: FHIR, Terminologies: Code Systems (https://hl7.org/fhir/R5/terminologies-systems.html, as in
  the earlier releases);
- CPT: FHIR R4, Using CPT with HL7 Standards (https://hl7.org/fhir/R4/cpt.html);
- RadLex, which holds the RadLex Playbook procedure ids (RPID...): HL7 Terminology (THO) 5.0.0, CodeSystem
  RadLex, url http://radlex.org, OID 2.16.840.1.113883.6.256
  (https://terminology.hl7.org/5.0.0/CodeSystem-RadLex.xml.html; THO names it the endorsed URI).
"""
from __future__ import annotations

from typing import NamedTuple


class CodeSystem(NamedTuple):
    prefix: str
    uri: str
    name: str


CODE_SYSTEMS = (
    CodeSystem("SNOMED", "http://snomed.info/sct", "SNOMED CT"),
    CodeSystem("LOINC", "http://loinc.org", "LOINC"),
    CodeSystem("RPID", "http://radlex.org", "RadLex Playbook"),
    CodeSystem("CPT", "http://www.ama-assn.org/go/cpt", "CPT"),
    CodeSystem("RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
    CodeSystem("ICD10CM", "http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM"),
)
BY_PREFIX = {system.prefix: system for system in CODE_SYSTEMS}
BY_URI = {system.uri: system for system in CODE_SYSTEMS}


def system_name(uri: str) -> str:
    """The terminology's name for messages; the URI itself for a system not in the table."""
    found = BY_URI.get(uri)
    return found.name if found else uri
