"""Where outputs may be written: checked before any long work, so finished work is never replaced.

Every writer of adekd (``write_jsonl``, ``adekd train``, ``adekd student init``, ``adekd label``)
refuses a path that would fail only at the end (a folder where a file goes, a path under a file)
or one that holds files it did not write, and names what is there.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path


def check_output_file(path: str | os.PathLike) -> None:
    """Refuse a file path that cannot be written, before any work: an existing folder, or a path under
    a file (missing parent folders are fine: writers create them). Otherwise the error comes at the
    very end, when a long run renames its finished output into place."""
    path = Path(os.path.abspath(os.fspath(path)))
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise NotADirectoryError(f"{path} cannot be created: {parent} is a file, not a folder")


def existing_entries(folder: str | os.PathLike, ignore: Collection[str] = ()) -> list[str] | None:
    """The names in output ``folder`` (sorted; hidden ones like ``.DS_Store`` and ``ignore`` left out),
    or ``None`` when it does not exist yet. Raises ``NotADirectoryError`` when it, or a folder above
    it, is a file."""
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if existing is not None and not existing.is_dir():
        what = "is a file, not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise NotADirectoryError(f"{folder} {what}")
    if existing != folder:
        return None
    return sorted(name for name in os.listdir(folder) if not name.startswith(".") and name not in ignore)


def path_key(value: str | os.PathLike) -> str:
    """A run's input as two runs compare it before one writes over the other's output: a local path
    resolved (``x`` and ``./x`` are one file, ``x`` in two folders are two), a Hub id or name as it is."""
    return os.path.realpath(value) if os.path.exists(value) else os.fspath(value)


def _nearest_existing(path: Path) -> Path | None:
    """``path`` or the nearest folder above it that exists (what a writer would create things in)."""
    return next((parent for parent in (path, *path.parents) if parent.exists()), None)


def listed(names: Sequence[str], limit: int = 4) -> str:
    """``a, b, c, d and 3 more``: the files an error message names."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
