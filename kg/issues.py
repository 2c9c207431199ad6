"""One finding about a patient graph, shared by the reader (kg.coding) and the validator."""
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
