"""Typed errors. The CLI maps each family to an exit code, so callers can script on them."""
from __future__ import annotations


class AcrKgError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code = 2


class InputError(AcrKgError):
    """Input that cannot be read: missing file, bad syntax, refused remote reference.

    The message names the file (``source``) and, where the parser knows it, the line.
    """

    exit_code = 2

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.source = source
        self.line = line
        where = source or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class UsageError(AcrKgError):
    """The command was called wrongly: unknown query name, bad parameter, unknown option value."""

    exit_code = 2


class InvalidPatientData(AcrKgError):
    """The patient graph violates the shapes; carries the validation result."""

    exit_code = 1

    def __init__(self, validation):
        self.validation = validation
        n = len(validation.violations)
        super().__init__(f"patient data violate the shapes ({n} violation{'s' if n != 1 else ''})")


class QualityCheckFailed(AcrKgError):
    """The knowledge base failed a quality check graded ERROR."""

    exit_code = 1


class EndpointError(AcrKgError):
    """A remote SPARQL endpoint could not be reached or answered with an error."""

    exit_code = 2
