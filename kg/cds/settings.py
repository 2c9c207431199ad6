"""Settings of the CDS Hooks service, fixed when the app is made (``kg.cds.app.create_app``)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import InputError, UsageError


@dataclass(frozen=True)
class Settings:
    # Who may call: issuer (JWT ``iss``) -> its JWK set. Empty with ``verify_jwt`` on refuses every call.
    issuers: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify_jwt: bool = True
    # The base URL the EHR calls (``https://cds.example.org``): a JWT's ``aud`` must be this plus the path.
    # Required with ``verify_jwt`` (kg.cds.app refuses to start without it).
    public_url: str | None = None
    max_token_lifetime: int = 300  # seconds from iat to exp; bounds the replay cache (the spec asks for 5 min)
    clock_leeway: int = 30
    database: Path = Path("acr-kg-cds.sqlite3")  # consultations and feedback
    max_body_bytes: int = 5 * 1024 * 1024
    fhir_timeout: float = 5.0  # seconds, per request to the EHR's FHIR server
    fhir_max_bytes: int = 10 * 1024 * 1024  # per response of the FHIR server
    fhir_max_pages: int = 20  # pages of one search followed through Bundle.link "next"
    thresholds: str = "seed"
    gcode: str = ""  # CMS G-code of a qualified CDS mechanism (legacy PAMA); none by default
    extension_system_actions: bool = False  # also put systemActions in `extension` (2019 PAMA material)
    cors_origins: tuple[str, ...] = ("*",)
    backend: str = "oxigraph"
    concurrent_calls: int = 2  # hook calls evaluated at once (see kg.cds.app)
    # calls that may wait for their turn; one more is refused with 503 (about 50 ms of work each: 16 waiting
    # calls with 2 at once are 0.4 s of queue on a quiet machine, about 1 s on 2 busy cores)
    max_waiting_calls: int = 16
    # threads one call may use for its independent queries (kg.store.parallel): more answers a lone call
    # sooner, but under load the calls evaluated at once already hold the cores (measured on 2 cores,
    # 15 calls/s: p99 203 ms with 1, 248-322 ms with 2)
    query_threads: int = 1

    def __post_init__(self):
        if self.concurrent_calls < 1:
            raise UsageError(f"concurrent calls must be at least 1, not {self.concurrent_calls}")
        if self.query_threads < 1:
            raise UsageError(f"query threads must be at least 1, not {self.query_threads}")
        if self.max_waiting_calls < 0:
            raise UsageError(f"waiting calls must be 0 or more, not {self.max_waiting_calls}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise UsageError(f"public URL {self.public_url!r} must start with http:// or https://")
        for issuer, jwks in self.issuers.items():
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise UsageError(f"the JWK set of issuer {issuer!r} has no 'keys' list")


def read_issuers(path: Path) -> dict[str, dict[str, Any]]:
    """The trusted EHRs from a JSON file ``{"issuers": {"https://ehr.example.org": {"keys": [...]}}}``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the trusted issuers: {exc.strerror or exc}", str(path)) from None
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", str(path), getattr(exc, "lineno", None)) from None
    issuers = document.get("issuers") if isinstance(document, dict) else None
    if not isinstance(issuers, dict) or not issuers:
        raise InputError('expected {"issuers": {ISSUER: JWK set, ...}} with at least one issuer', str(path))
    return issuers
