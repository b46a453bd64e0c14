"""A persistent SQLite cache of teacher answers: resume a killed run without repeating or losing a request.

Each answer is committed the moment it arrives (WAL journal, one transaction per answer), so a run
killed at any point keeps every answer it received, and the same command run again sends only the
requests that never got one. The key covers everything that decides the answer: transport, model,
prompt hash, decoding parameters (including the schema sent) and the input text; see
:func:`cache_key`. The cache stores raw answers, not parsed ones, so changing the parser or the
alignment never needs a new request. API keys are never part of a key or a row.

Tables:

- ``answers(key PRIMARY KEY, transport, model, prompt_hash, params, text, content, finish_reason,
  prompt_tokens, completion_tokens, created_at)``;
- ``batches(batch_id PRIMARY KEY, keys, status, created_at, updated_at)``: OpenAI Batch API jobs
  in flight, so a resumed run polls them instead of submitting the requests again;
- ``meta(name PRIMARY KEY, value)``: the cache schema version.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adekd.teacher.backends.base import Generation

SCHEMA_VERSION = "1"
DEFAULT_CACHE_ENV = "ADEKD_CACHE_DIR"


def default_cache_path() -> Path:
    """``$ADEKD_CACHE_DIR/teacher.sqlite``, else ``~/.cache/adekd/teacher.sqlite``: shared by all runs."""
    root = os.environ.get(DEFAULT_CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "adekd")
    return Path(root) / "teacher.sqlite"


def cache_key(transport: str, model: str, prompt_hash: str, params: dict[str, Any], text: str) -> str:
    """The hex SHA-256 of the request's identity, canonically serialized."""
    identity = {
        "transport": transport,
        "model": model,
        "prompt_hash": prompt_hash,
        "params": params,
        "text": text,
    }
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CacheError(RuntimeError):
    """The cache file cannot be used (e.g. written by an incompatible adekd)."""


class AnswerCache:
    """Raw teacher answers by :func:`cache_key`; safe against a process kill between any two answers."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise CacheError(f"answer cache {self.path} is a folder; give the path of a cache file (.sqlite)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._damage():
                self._db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30
                )
                tables = {
                    name
                    for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
        except OSError as err:
            raise CacheError(f"answer cache {self.path} cannot be used ({err})") from None
        if tables and "answers" not in tables:  # someone else's database: never add tables to it
            self._db.close()
            raise CacheError(
                f"answer cache {self.path} is an SQLite database that adekd did not write; give another path"
            )
        with self._damage():
            self._open()

    @contextmanager
    def _damage(self) -> Iterator[None]:
        """A damaged file (a disk error, a copy cut short) fails every read: one error naming the file
        stops the run, rather than one failed text per read."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise CacheError(
                f"answer cache {self.path} cannot be used ({err}); if it is damaged, move it away to start "
                "a new cache, or give another --cache"
            ) from None

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process kills, the case that matters
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, transport TEXT NOT NULL, "
                "model TEXT NOT NULL, prompt_hash TEXT NOT NULL, params TEXT NOT NULL, text TEXT NOT NULL, "
                "content TEXT NOT NULL, finish_reason TEXT, prompt_tokens INTEGER NOT NULL, "
                "completion_tokens INTEGER NOT NULL, created_at REAL NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, keys TEXT NOT NULL, "
                "status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
            )
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        (version,) = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if version != SCHEMA_VERSION:
            raise CacheError(
                f"{self.path}: cache schema version {version}, this adekd reads {SCHEMA_VERSION}"
            )

    def get(self, key: str) -> Generation | None:
        with self._damage():
            row = self._db.execute(
                "SELECT content, finish_reason, prompt_tokens, completion_tokens FROM answers WHERE key = ?",
                (key,),
            ).fetchone()
        return Generation(*row) if row else None

    def put(
        self,
        key: str,
        generation: Generation,
        *,
        transport: str,
        model: str,
        prompt_hash: str,
        params: dict[str, Any],
        text: str,
    ) -> None:
        """Store an answer and commit it at once."""
        with self._damage():
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    transport,
                    model,
                    prompt_hash,
                    json.dumps(params, sort_keys=True),
                    text,
                    generation.content,
                    generation.finish_reason,
                    generation.prompt_tokens,
                    generation.completion_tokens,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    # --- Batch API jobs ----------------------------------------------------------------------

    def add_batch(self, batch_id: str, keys: Iterable[str], status: str) -> None:
        now = time.time()
        self._db.execute(
            "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?)",
            (batch_id, json.dumps(list(keys)), status, now, now),
        )

    def set_batch_status(self, batch_id: str, status: str) -> None:
        self._db.execute(
            "UPDATE batches SET status = ?, updated_at = ? WHERE batch_id = ?",
            (status, time.time(), batch_id),
        )

    def open_batches(self) -> dict[str, list[str]]:
        """Batch jobs submitted but not yet collected: batch id -> the cache keys it answers."""
        rows = self._db.execute(
            "SELECT batch_id, keys FROM batches WHERE status NOT IN ('collected', 'abandoned')"
        )
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
