"""Where answers go: stdout, or a file written atomically (a temporary file beside it, renamed into
place only when everything was written, so a reader never sees half an answer)."""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from kg.errors import UsageError


@contextmanager
def output_stream(path: str | Path | None) -> Iterator[TextIO]:
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file name for the output")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent.absolute())
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
