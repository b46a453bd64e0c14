"""Corpus-scale extraction: a student over millions of sentences, in shards, resumable, on many processes.

:func:`extract_sharded` (``adekd extract --shard-size N``) writes ``OUTPUT/`` as::

    OUTPUT/
      shard-00000.jsonl ...       records of input positions [k*N, (k+1)*N), in input order
      manifest.json               settings, counts, and per shard: file, records, first and last id,
                                  sha256 and the process that wrote it
      .progress/shard-00000.json  a finished shard's entry (written after its file is complete)
      settings.json               what the shards were made with: input and model (a resolved local path
                                  and the count, bytes, latest modification and a hash of the listing of
                                  their files, or a Hub id and its revision), shard size and options; a
                                  rerun with other settings, or over a changed input or model, is refused

``OUTPUT`` must be new, empty (hidden files aside) or a folder adekd extract wrote (its
``settings.json``): a folder holding anything else is refused before the model loads, never written into.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adekd.outputs import existing_entries, listed, path_key
from adekd.records import write_jsonl

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
SETTINGS_FILE = "settings.json"
PROGRESS_DIR = ".progress"
MANIFEST_FORMAT = "adekd-extract-shards/2"
MODEL_FILES = (
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "*.bin",
    "adapter_config.json",
    "tokenizer*",
    "vocab*",
    "merges.txt",
    "special_tokens_map.json",
    "*.py",
)
"""The files of a student folder that loading it reads: a change to any may change the predictions."""
DEFAULT_SHARD_SIZE = 10_000
BUFFER_SIZE = 4096
"""Texts sorted by length together before batching (within a shard); bounds the memory used."""


class ShardingError(ValueError):
    """The output folder cannot be used with these settings; the message says why and what to do."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.jsonl"


def _entry_path(output: Path, index: int) -> Path:
    return output / PROGRESS_DIR / f"shard-{index:05d}.json"


def _settings(
    input_path: str | os.PathLike,
    model: Any,
    shard_size: int,
    options: dict[str, Any],
    revision: str | None = None,
) -> dict:
    """What the shards are made from, as a rerun compares it: the input and the model by what they
    are (a resolved local path and the state of its files, or a Hub id and the commit its
    ``revision`` points to), not by the text that named them, so ``x/`` resumes ``./x`` and a changed
    file or retrained student is noticed."""
    model_name = _model_name(model)
    return {
        "format": MANIFEST_FORMAT,
        "input": path_key(input_path),
        "input_state": _source_state(input_path, "dataset"),
        "model": path_key(model_name),
        "model_state": _source_state(model_name, "model", revision),
        "shard_size": shard_size,
        "options": options,
    }


def _model_name(model: Any) -> str:
    """The folder or Hub id a model argument (a path, a loaded student, a pipeline) was loaded from."""
    if isinstance(model, str | os.PathLike):
        return os.fspath(model)
    loaded = getattr(model, "model", model)  # a pipeline holds its model
    return str(getattr(loaded, "name_or_path", None) or type(loaded).__name__)


def _source_state(source: str | os.PathLike, repo_type: str, revision: str | None = None) -> dict[str, Any]:
    """What changes when a local input or model changes (its files' count, bytes, latest modification
    and a hash of their names, sizes and modification times), or the commit a Hub repository's
    ``revision`` (default: main) points to."""
    path = Path(source)
    if not path.exists():
        from adekd.hub import hub_commit

        return {"revision": hub_commit(os.fspath(source), repo_type, revision)}
    if path.is_file():
        files = [path]
    elif repo_type == "model":
        files = sorted(file for pattern in MODEL_FILES for file in path.glob(pattern) if file.is_file())
    else:
        files = _visible_files(path)
    stats = [(os.path.relpath(file, path) if path.is_dir() else file.name, file.stat()) for file in files]
    listing = [[name, stat.st_size, stat.st_mtime_ns] for name, stat in stats]
    newest = max((stat.st_mtime for _, stat in stats), default=None)
    modified = None if newest is None else datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds")
    return {
        "files": len(stats),
        "bytes": sum(stat.st_size for _, stat in stats),
        "modified": modified,
        "listing": hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()[:16],
    }


def _visible_files(folder: Path) -> list[Path]:
    """The files of a data folder, recursively, hidden ones (``.cache``, ``.DS_Store``) left out as the
    dataset readers leave them out."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        found += [Path(root, name) for name in sorted(files) if not name.startswith(".")]
    return found


def _differences(saved: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """What differs between the settings an output folder was made with and this run's, in words."""
    changes = []
    for key, value in settings.items():
        before = saved.get(key)
        if key.endswith("_state"):
            source = key.removesuffix("_state")
            if saved.get(source) != settings[source] or _same_state(before, value):
                continue  # another input or model is named as such, not as a change
            was, now = _describe_state(before), _describe_state(value)
            how = f"{was}; now {now}" if was != now else f"{was}, but a file's name, size or time differs"
            changes.append(f"{source} {settings[source]} changed since the shards were written ({how})")
        elif isinstance(value, dict):
            changes += [f"{key}.{change}" for change in _differences(before or {}, value)]
        elif before != value:
            changes.append(f"{key} {before!r}, now {value!r}")
    return changes


def _same_state(before: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Local states must match; Hub revisions only when both runs could resolve one."""
    hub = before is not None and before.keys() == now.keys() == {"revision"}
    if hub and None in (before["revision"], now["revision"]):
        logger.warning("could not check the Hub revision the shards were made with; comparing the id only")
        return True
    return before == now


def _describe_state(state: dict[str, Any] | None) -> str:
    if not state:
        return "unknown"
    if "revision" in state:
        return f"Hub revision {state['revision'] or 'unknown'}"
    return f"{state['files']} files, {state['bytes']} bytes, last modified {state['modified']}"


def _check_settings(output: Path, settings: dict[str, Any], main_process: bool = True) -> None:
    """Write ``settings.json``, or refuse a folder adekd extract did not write or whose shards were
    made with other settings. A folder of ours with no finished shard takes the new settings: the run
    that wrote it stopped before its first shard (a model that failed to load, say), nothing is lost.
    The other processes only check what the main one wrote."""
    try:
        present = existing_entries(output)
    except NotADirectoryError as err:
        raise ShardingError(f"--output {err}; sharded output needs a folder") from None
    if (output / PROGRESS_DIR).exists():
        present = [*(present or ()), PROGRESS_DIR]
    saved = _saved_settings(output)
    if present and saved is None:
        raise ShardingError(
            f"--output {output} holds files adekd extract did not write ({listed(present)}); writing shards "
            "there could replace them: choose a new or empty folder"
        )
    finished = saved is not None and (
        any(output.glob("shard-*.jsonl")) or any((output / PROGRESS_DIR).glob("shard-*.json"))
    )
    if finished or (saved is not None and not main_process):
        if saved["format"] != settings["format"]:
            raise ShardingError(
                f"{output} holds shards of another adekd version ({saved['format']}, this one writes "
                f"{settings['format']}); choose another --output"
            )
        differences = _differences(saved, settings)
        if differences:
            raise ShardingError(
                f"{output} holds shards made with other settings: {'; '.join(differences)}. To resume, rerun "
                "with what the shards were made with; otherwise choose another --output"
            )
        return
    output.mkdir(parents=True, exist_ok=True)
    tmp = output / f"{SETTINGS_FILE}.tmp"
    tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, output / SETTINGS_FILE)


def _saved_settings(output: Path) -> dict[str, Any] | None:
    """The settings adekd extract left in ``output``, or ``None`` if it holds no such file (a user's own
    ``settings.json`` of another shape is not ours)."""
    try:
        saved = json.loads((output / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ours = isinstance(saved, dict) and str(saved.get("format", "")).startswith(
        MANIFEST_FORMAT.split("/")[0] + "/"
    )
    return saved if ours else None


def _pinned_commit(output: Path, settings: dict[str, Any]) -> str | None:
    """The commit every process loads: the one ``settings.json`` recorded (rank 0's resolution, or the
    first run's when this one is offline and could not resolve), else this process's own; None for
    a local folder, or a Hub id no run could resolve."""
    recorded = (_saved_settings(output) or {}).get("model_state") or {}
    return recorded.get("revision") or settings["model_state"].get("revision")


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
    revision: str | None = None,
    **extract_kwargs: Any,
) -> dict[str, Any] | None:
    """Run a student over ``input_path`` into a folder of shards (see the module docstring).

    ``process_index``/``num_processes`` default to Accelerate's ``PartialState`` (one process when
    not launched by ``accelerate launch``). ``revision`` (branch, tag or commit of a Hub id
    ``model``; default main) is resolved to its commit once, and every process loads that commit, so a
    push to the repository during the run cannot mix two students in one output. ``extract_kwargs``
    go to :func:`adekd.iter_extract` (``batch_size``, ``drug_lexicon``, thresholds, ``max_length``,
    ``dtype``...). Returns the manifest on the main process (``None`` on the others).
    """
    from adekd.modeling.pipeline_adekd import check_revision, iter_extract, load_pipeline
    from adekd.modeling.student import iter_input_records

    if shard_size < 1:
        raise ShardingError(f"--shard-size must be at least 1, got {shard_size}")
    try:
        check_revision(model, revision)
    except ValueError as err:
        raise ShardingError(f"--{err}") from None
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
    if os.path.isdir(input_path) and Path(os.path.realpath(output)).is_relative_to(
        os.path.realpath(input_path)
    ):
        raise ShardingError(
            f"--output {output} is inside --input {input_path}: the shards would change the input"
        )
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
    settings = _settings(input_path, model, shard_size, options, revision)
    if process_index == 0:
        _check_settings(output, settings)
    if state is not None:
        state.wait_for_everyone()
    if process_index != 0:
        _check_settings(output, settings, main_process=False)

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
                pinned = (
                    {"revision": _pinned_commit(output, settings) or revision}
                    if isinstance(model, str)
                    else {}
                )
                pipe = load_pipeline(model, **pinned, **options)
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
