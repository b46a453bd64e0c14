"""Stage stamps: skip a stage whose output exists and was made from the same inputs, rerun it otherwise.

Each stage of a run writes ``OUTPUT/.stamps/<stage>.json`` twice: ``{"status": "running",
"fingerprint": ...}`` when it starts and ``{"status": "done", "fingerprint", "outputs", ...}``
when it ends. The fingerprint hashes everything the stage depends on (its configuration and the
digests of the outputs of the stages before it); ``outputs`` is the digest of the files the stage
wrote. A stage is skipped only when its stamp is ``done`` with the same fingerprint and its files
still have that digest, so a changed setting, a changed upstream output, a deleted or corrupted
file, or a stage killed half-way all make it run again. A ``running`` stamp with the same
fingerprint tells the stage it may resume (training checkpoints, cached teacher answers).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAMPS_DIR = ".stamps"


def fingerprint(payload: Any) -> str:
    """A stable hash of JSON-able ``payload`` (keys sorted; other objects by their ``str``)."""
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def files_digest(root: str | os.PathLike, paths: Iterable[str | os.PathLike]) -> str | None:
    """Digest of the names and bytes of ``paths`` (files, or folders walked recursively) under ``root``.

    ``None`` when any of them is missing, so a deleted output never matches a stamp.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for path in paths:
        path = root / path
        if not path.exists():
            return None
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class Stage:
    """One stage of a run: its stamp file and the output paths (relative to the run folder) it writes."""

    run_dir: Path
    name: str
    outputs: tuple[str, ...]

    @property
    def stamp_path(self) -> Path:
        return self.run_dir / STAMPS_DIR / f"{self.name}.json"

    def read_stamp(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.stamp_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def outputs_digest(self) -> str | None:
        return files_digest(self.run_dir, self.outputs)

    def is_done(self, fingerprint_: str) -> bool:
        """Done with these inputs, and its files unchanged since."""
        stamp = self.read_stamp()
        return bool(
            stamp
            and stamp.get("status") == "done"
            and stamp.get("fingerprint") == fingerprint_
            and stamp.get("outputs") == self.outputs_digest()
        )

    def was_interrupted(self, fingerprint_: str) -> bool:
        """Started with these inputs and never finished: its partial work may be resumed."""
        stamp = self.read_stamp()
        return bool(stamp and stamp.get("status") == "running" and stamp.get("fingerprint") == fingerprint_)

    def start(self, fingerprint_: str) -> None:
        self._write({"status": "running", "fingerprint": fingerprint_, "started_at": time.time()})

    def finish(self, fingerprint_: str, seconds: float, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record the stage as done; returns the stamp (with the digest downstream stages depend on)."""
        stamp = {
            "status": "done",
            "fingerprint": fingerprint_,
            "outputs": self.outputs_digest(),
            "seconds": round(seconds, 3),
            "finished_at": time.time(),
            **(info or {}),
        }
        self._write(stamp)
        return stamp

    def _write(self, stamp: dict[str, Any]) -> None:
        self.stamp_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.stamp_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.stamp_path)
