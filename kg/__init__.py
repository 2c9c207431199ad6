"""acr-kg: the ACR Appropriateness Criteria as linked data.

The public API, in one place::

    from kg import Engine, read_patient
    engine = Engine()                      # knowledge base and compiled shapes, loaded once; thread-safe
    answer = engine.recommend(read_patient("patient.ttl"))
    answer.as_dict()                       # JSON-ready, see kg/output/schemas/

Names are imported on first use, so ``import kg`` (and ``acr-kg --version``) stays fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from kg._version import __version__

if TYPE_CHECKING:
    from kg.errors import (AcrKgError, EndpointError, InputError, InvalidPatientData, QualityCheckFailed,
                           UsageError)
    from kg.input import PatientData, parse_patient, read_patient
    from kg.recommend import Engine, Recommendation, Request
    from kg.validate import Evaluation, ValidationResult

_EXPORTS = {
    "Engine": "kg.recommend", "Request": "kg.recommend", "Recommendation": "kg.recommend",
    "Evaluation": "kg.validate", "ValidationResult": "kg.validate",
    "PatientData": "kg.input", "parse_patient": "kg.input", "read_patient": "kg.input",
    "AcrKgError": "kg.errors", "InputError": "kg.errors", "UsageError": "kg.errors",
    "InvalidPatientData": "kg.errors", "QualityCheckFailed": "kg.errors", "EndpointError": "kg.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kg' has no attribute {name!r}")
