"""Atomic output: write to a temporary file in the target folder, then ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cropseg.errors import OutputError
from cropseg.types import PathLike


def check_output_path(path: PathLike, name: str = "path") -> Path:
    """Return ``path`` as a Path after checking that its folder exists and is writable."""
    out = Path(os.fspath(path))
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{name} {str(out)!r}: folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{name} {str(out)!r}: folder {str(folder)!r} is not writable; choose another")
    if out.is_dir():
        raise OutputError(f"{name} {str(out)!r} is a folder; give a file name")
    return out


@contextmanager
def atomic_path(path: PathLike, name: str = "path") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    If the body raises, the temporary file is removed and ``path`` is left untouched, so an
    interrupted write never leaves a half file under the final name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    out = check_output_path(path, name)
    # Keep the real suffix last so format-sniffing writers (GDAL drivers) recognise the file, and
    # hand over a name that does not exist yet (GDAL refuses to create over an empty file).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".part{out.suffix}", dir=out.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
