"""Findings: one about a patient graph (``Issue``, shared by the reader and the validator), and the
reports of knowledge-base checks graded ERROR, WARN and INFO (``GradedFindings``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """A SHACL result or a note of the reader, in plain terms."""

    severity: str  # "violation" | "warning" | "info"
    message: str
    focus: str | None
    path: str | None = None
    value: str | None = None
    pitfall: str | None = None

    def as_dict(self) -> dict:
        """message, focus and path always (focus or path may be null); value and pitfall when known."""
        fixed = {"severity": self.severity, "message": self.message, "focus": self.focus, "path": self.path}
        return fixed | {k: v for k, v in (("value", self.value), ("pitfall", self.pitfall)) if v is not None}


class GradedFindings:
    """What a report of graded findings (``acr-kg check``, ``acr-kg import``) says about itself; the report
    holds ``findings``, each with a ``level``."""

    findings: list

    @property
    def errors(self) -> list:
        return [f for f in self.findings if f.level == "ERROR"]

    @property
    def passed(self) -> bool:
        # a SHACL violation, an inconsistency and an ERROR-level QC row are all ERROR findings
        return not self.errors
