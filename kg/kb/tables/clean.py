"""What real rating tables carry besides their values, and how it is taken off.

Each function returns the clean text and whether it changed anything, so that the importer can count
and report every change at its row.
"""
from __future__ import annotations

import re

# Web pages render a "References" link after the value; copied into a sheet it sticks to the value.
_LINK_TEXT = re.compile(r"(?<=\S)\s*References?$")
# Footnote marks, a stray "PDF" or "Narrative & Rating Table" link, and trailing punctuation.
_TITLE_JUNK = re.compile(
    r"(?:\s|[*†‡§¶|:;,.\u2013\u2014-]|\(PDF\)|\bPDF\b|\bNarrative\s*(?:&|and)\s*Rating\s*Table\b|\bRating\s*Table\b)+$",
    re.IGNORECASE)


def squeeze(text: str) -> str:
    """Runs of white space (non-breaking spaces and line breaks too) as one space."""
    return " ".join(text.split())


def strip_link_text(text: str) -> tuple[str, bool]:
    clean = _LINK_TEXT.sub("", text)
    return clean, clean != text


def strip_title_junk(text: str) -> tuple[str, bool]:
    clean = _TITLE_JUNK.sub("", text)
    return clean, clean != text


def key(text: str) -> str:
    """The form two names are compared in: case, white space and dash variants do not count."""
    return squeeze(text.replace("\u2013", "-").replace("\u2014", "-")).casefold()


def slug(text: str) -> str:
    """A lower-case IRI segment: letters and digits, runs of anything else as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"
