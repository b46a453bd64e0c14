"""Line-by-line reading of corpus files with errors that name the path and line.

Corpus files come from many places; a stray Latin-1 byte deep inside a multi-gigabyte file must
fail with its line number, not with a bare ``UnicodeDecodeError`` at some buffer offset. Lines
are decoded one at a time from a binary stream, so reading stays lazy and the line number is known.
Files ending in ``.gz`` are decompressed on the fly. A UTF-8 byte-order mark (Windows editors write
one) is dropped: an editor does not show it, so offsets and columns counted on the first line must
not count it, and a PubTator title or a JSON object must not start with it.
"""

from __future__ import annotations

import codecs
import gzip
import os
from collections.abc import Iterator
from typing import IO


class CorpusError(ValueError):
    """A corpus file or folder cannot be read as asked; the message names the path (and line)."""


def open_binary(path: str | os.PathLike) -> IO[bytes]:
    """Open a file for binary reading, ``.gz`` decompressed; :class:`CorpusError` if it is missing."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CorpusError(f"{path}: no such file")
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def decode_utf8(data: bytes, path: str | os.PathLike, first_line: int = 1) -> str:
    """Decode UTF-8 or raise :class:`CorpusError` naming the path, line and byte of the first bad byte.

    ``data`` starts at line ``first_line`` of the file; a byte-order mark opening line 1 is dropped.
    """
    if first_line == 1:
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise CorpusError(
            f"{os.fspath(path)} line {line}, column {column}: byte 0x{data[err.start]:02x} is not valid "
            "UTF-8; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` lazily, line numbers from 1, without the line ending (or a BOM)."""
    with open_binary(path) as handle:
        for line_no, raw in enumerate(handle, 1):
            yield line_no, decode_utf8(raw, path, line_no).rstrip("\r\n")


def read_text(path: str | os.PathLike) -> str:
    """Read a whole (small) file as UTF-8 with the same error as :func:`iter_lines`."""
    with open_binary(path) as handle:
        return decode_utf8(handle.read(), path)
