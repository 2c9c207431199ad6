"""The JSON Schemas of the answers (draft 2020-12), shipped with the package: the output contract."""
from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

NAMES = ("validation", "recommendation")


@cache
def schema(name: str) -> dict:
    """The schema ``validation`` or ``recommendation`` as a dict."""
    return json.loads((files(__name__) / f"{name}.schema.json").read_text(encoding="utf-8"))
