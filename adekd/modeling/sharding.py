"""Corpus-scale extraction: a student over millions of sentences, in shards, resumable, on many processes.

:func:`extract_sharded` (``adekd extract --shard-size N``) writes ``OUTPUT/`` as::

    OUTPUT/
      shard-00000.jsonl ...       records of input positions [k*N, (k+1)*N), in input order
      manifest.json               settings, counts, and per shard: file, records, first and last id,
                                  sha256 and the process that wrote it
      .progress/shard-00000.json  a finished shard's entry (written after its file is complete)
      settings.json               what the shards were made with; a rerun with other settings is refused

Input streams (text, JSONL of texts, PubTator; records and datasets go through the corpus readers),
one shard at a time; within a shard, :func:`adekd.iter_extract` sorts a bounded buffer of texts by
length before batching, so padding stays small and memory stays flat. Each shard is written to a
``.tmp`` file and renamed when complete, and only then marked done: a killed run, rerun with the
same command, skips finished shards and redoes the one it was writing, so no record is lost or
written twice.

Under ``accelerate launch`` (CPU processes or GPUs) every process reads the same stream and takes
the shards whose number is its rank modulo the number of processes: shard membership depends only
on input position and ``shard_size``, so ranks never overlap, never miss a record, and a resume may
use a different number of processes. Each process runs the model on ``PartialState().device``;
the main one writes the manifest once all are done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from adekd.outputs import check_output_file
from adekd.records import write_jsonl

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
SETTINGS_FILE = "settings.json"
PROGRESS_DIR = ".progress"
MANIFEST_FORMAT = "adekd-extract-shards/1"
DEFAULT_SHARD_SIZE = 10_000
BUFFER_SIZE = 4096
"""Texts sorted by length together before batching (within a shard); bounds the memory used."""


class ShardingError(ValueError):
    """The output folder cannot be used with these settings; the message says why and what to do."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.jsonl"


def _entry_path(output: Path, index: int) -> Path:
    return output / PROGRESS_DIR / f"shard-{index:05d}.json"


def _settings(input_path: str | os.PathLike, model: Any, shard_size: int, options: dict[str, Any]) -> dict:
    stat = os.stat(input_path) if os.path.isfile(input_path) else None
    return {
        "format": MANIFEST_FORMAT,
        "input": os.path.abspath(input_path),
        "input_bytes": stat.st_size if stat else None,
        "input_mtime": int(stat.st_mtime) if stat else None,
        "model": str(getattr(model, "name_or_path", model)),
        "shard_size": shard_size,
        "options": options,
    }


def _check_settings(output: Path, settings: dict[str, Any]) -> None:
    """Write ``settings.json``, or refuse a folder holding shards made with other settings."""
    path = output / SETTINGS_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        differing = sorted(key for key in settings if saved.get(key) != settings[key])
        if differing:
            raise ShardingError(
                f"{output} holds shards made with other settings ({', '.join(differing)} differ); rerun with "
                "the same --model, --input and flags to resume, or choose another --output"
            )
        return
    if any(output.glob("shard-*.jsonl")):
        raise ShardingError(f"{output} holds shards but no {SETTINGS_FILE}; choose another --output")
    output.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _done(output: Path, index: int) -> dict[str, Any] | None:
    """The entry of a finished shard, if its file is still there."""
    try:
        entry = json.loads(_entry_path(output, index).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if (output / entry["file"]).is_file() else None


def _write_shard(
    output: Path, index: int, records: Iterable[dict[str, Any]], process_index: int
) -> dict[str, Any]:
    """Write one shard atomically, then its progress entry; return the entry."""
    path = output / shard_name(index)
    seen: dict[str, str] = {}

    def tracked() -> Iterator[dict[str, Any]]:
        for record in records:
            seen.setdefault("first", record["id"])
            seen["last"] = record["id"]
            yield record

    count = write_jsonl(tracked(), path)  # .tmp then rename: a killed shard never looks finished
    entry = {
        "shard": index,
        "file": path.name,
        "records": count,
        "first_id": seen.get("first"),
        "last_id": seen.get("last"),
        "sha256": _sha256(path),
        "process": process_index,
    }
    entry_path = _entry_path(output, index)
    entry_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    os.replace(tmp, entry_path)
    return entry


def _shards(
    records: Iterable[dict[str, Any]], shard_size: int
) -> Iterator[tuple[int, Iterator[dict[str, Any]]]]:
    """(shard index, that shard's records) in input order, streaming."""
    numbered = enumerate(records)
    for index, group in itertools.groupby(numbered, key=lambda item: item[0] // shard_size):
        yield index, (record for _, record in group)


def write_manifest(output: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Gather the finished shards into ``manifest.json``; raise if any shard before the last is missing."""
    entries = []
    for path in sorted((output / PROGRESS_DIR).glob("shard-*.json")):
        entries.append(json.loads(path.read_text(encoding="utf-8")))
    missing = sorted(set(range(len(entries))) - {entry["shard"] for entry in entries})
    if missing:
        raise ShardingError(
            f"{output}: shards {missing[:5]} are not finished; rerun the same command to finish them"
        )
    manifest = {
        **settings,
        "num_shards": len(entries),
        "num_records": sum(entry["records"] for entry in entries),
        "complete": True,
        "shards": entries,
    }
    tmp = output / f"{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, output / MANIFEST_FILE)
    return manifest


def extract_sharded(
    model: Any,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    split_sentences: bool | None = None,
    keep_drugs: bool = True,
    process_index: int | None = None,
    num_processes: int | None = None,
    progress: bool = False,
    **extract_kwargs: Any,
) -> dict[str, Any] | None:
    """Run a student over ``input_path`` into a folder of shards (see the module docstring).

    ``process_index``/``num_processes`` default to Accelerate's ``PartialState`` (one process when
    not launched by ``accelerate launch``). ``extract_kwargs`` go to :func:`adekd.iter_extract`
    (``batch_size``, ``drug_lexicon``, thresholds, ``max_length``, ``dtype``...). Returns the
    manifest on the main process (``None`` on the others).
    """
    from adekd.modeling.pipeline_adekd import iter_extract, load_pipeline
    from adekd.modeling.student import iter_input_records

    if shard_size < 1:
        raise ShardingError(f"--shard-size must be at least 1, got {shard_size}")
    state = None
    if process_index is None or num_processes is None:
        import torch
        from accelerate import PartialState

        # `accelerate launch` on a machine without accelerators starts the processes, but Accelerate
        # joins them (gloo) only when told to run on CPU; otherwise every process would think it is rank 0.
        multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
        state = PartialState(cpu=multi_process and not torch.accelerator.is_available())
        process_index, num_processes = state.process_index, state.num_processes
        if extract_kwargs.get("device") is None:
            extract_kwargs["device"] = state.device
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise ShardingError(f"--output {output} is a file; sharded output needs a folder")
    if not output.exists():
        try:
            check_output_file(output)  # no file among its parents
        except OSError as err:
            raise ShardingError(f"--output {err}") from None
    options = {
        "split_sentences": split_sentences,
        "keep_drugs": keep_drugs,
        **{
            key: extract_kwargs.get(key)
            for key in ("drug_threshold", "ade_threshold", "max_length", "stride", "dtype")
        },
        "drug_lexicon": type(extract_kwargs["drug_lexicon"]).__name__
        if extract_kwargs.get("drug_lexicon")
        else None,
    }
    settings = _settings(input_path, model, shard_size, options)
    if process_index == 0:
        _check_settings(output, settings)
    if state is not None:
        state.wait_for_everyone()
    if process_index != 0:
        _check_settings(output, settings)

    pipe = None
    written = skipped = 0
    records = iter_input_records(input_path, split_sentences, keep_drugs)
    for index, shard in _shards(records, shard_size):
        if index % num_processes != process_index:
            continue
        if _done(output, index):
            skipped += 1
            continue
        if pipe is None:
            options = {key: extract_kwargs.pop(key) for key in ("device", "dtype") if key in extract_kwargs}
            try:
                pipe = load_pipeline(model, **options)
            except (OSError, ValueError) as err:  # no file name of the input in it: name the model
                raise ShardingError(f"--model {model}: {err}") from None
        chunk_size = min(shard_size, BUFFER_SIZE)
        outputs = iter_extract(shard, pipe, chunk_size=chunk_size, progress=progress, **extract_kwargs)
        entry = _write_shard(output, index, outputs, process_index)
        written += 1
        logger.info("rank %d: %s written (%d records)", process_index, entry["file"], entry["records"])
    logger.info("rank %d: %d shards written, %d already done", process_index, written, skipped)
    if state is not None:
        state.wait_for_everyone()
    if process_index == 0:
        return write_manifest(output, settings)
    return None
