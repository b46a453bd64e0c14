"""The silver dataset a labeling run writes: records plus the recipe that produced each label.

Folder layout (``load_dataset(folder)`` reads it; the card's ``configs`` point it at the data)::

    folder/
      README.md                  minimal dataset card; its YAML ``configs``/``dataset_info`` declare the data
      data/train-NNNNN-of-NNNNN.parquet  silver records with provenance columns
      failures.jsonl                    inputs without a label: {"id", "text", "error", ...}
      run_summary.json                  task spec, counts, tokens, cost, timings, teacher configuration

``failures.jsonl`` is itself a valid ``--input`` for a retry run (a JSONL of texts with ids). A run
that labeled nothing writes only the last two files.

A rerun rewrites a silver folder in place (the answers come from the cache), but a folder is only
written when it is new, empty or a silver folder adekd wrote (:func:`check_silver_output`): an
``--output`` pointed at a project folder must never replace its README or delete its data, nor one
pointed at another run's silver labels (other input, teacher, model or task) replace them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import datasets

from adekd.outputs import existing_entries, listed, path_key
from adekd.records import Record, records_to_dataset, short_hash, write_jsonl

logger = logging.getLogger(__name__)

FAILURES_FILE = "failures.jsonl"
SUMMARY_FILE = "run_summary.json"
CARD_FILE = "README.md"
_SHARD = re.compile(r"train-\d{5}-of-\d{5}\.parquet")
"""The shards :func:`write_silver` writes (``hub.write_parquet_shards`` names); only these are replaced."""


class SilverOutputError(ValueError):
    """The output folder holds files adekd did not write; writing there could destroy them."""


_MATCH = {"status": datasets.Value("string"), "similarity": datasets.Value("float32")}
SILVER_FEATURES = datasets.Features(
    {
        "task": datasets.Value("string"),
        "teacher": datasets.Value("string"),
        "teacher_model": datasets.Value("string"),
        "prompt_id": datasets.Value("string"),
        "prompt_hash": datasets.Value("string"),
        "decoding": datasets.Value("string"),
        "raw_response": datasets.Value("string"),
        "finish_reason": datasets.Value("string"),
        "parse_status": datasets.Value("string"),
        "drug_alignment": datasets.List(_MATCH),
        "ade_alignment": datasets.List(_MATCH),
        "rejected_quotes": datasets.List(
            {
                "kind": datasets.Value("string"),
                "quote": datasets.Value("string"),
                "drug": datasets.Value("string"),
                "reason": datasets.Value("string"),
            }
        ),
        "prompt_tokens": datasets.Value("int32"),
        "completion_tokens": datasets.Value("int32"),
    }
)
"""Provenance columns of a silver record, beside the record model's own (and ``doc_id``/``doc_start``).

``task`` names the task the teacher was asked (:mod:`adekd.tasks`; its whole spec is in
``run_summary.json``). ``decoding`` is the JSON of the decoding parameters (temperature,
max_tokens, seed, how the schema was enforced); ``drug_alignment[i]`` / ``ade_alignment[i]`` say
how ``drugs[i]`` / ``ades[i]`` were matched (exact, normalized or fuzzy with its similarity);
``rejected_quotes`` lists quotes found nowhere in the text. ``raw_response`` is the teacher's
answer exactly as received."""

_CARD_BODY = """
# Silver labels: {title}

Sentences labeled by the teacher `{model}` ({teacher}) with the prompt `{prompt_id}`
(hash `{prompt_hash}`) by `adekd label`: {records} records; {failed} inputs failed (see
`failures.jsonl`); {rejected} quoted spans were rejected because they were not in the text.
Machine labels, not reviewed by a person. Run details: `run_summary.json`.
"""


def silver_dataset(records: Iterable[Record], task: Any = None) -> datasets.Dataset:
    """Silver records as a ``datasets.Dataset`` with every feature declared.

    With ``task`` (a name, spec file, :class:`~adekd.tasks.TaskSpec`, or the spec mapping a run
    summary holds) every span carries the task's ``label`` (``CHEMICAL``/``DISEASE``), so a silver
    set says in its own rows which task its spans belong to, as gold corpora of that task do.
    """
    if isinstance(task, Mapping):
        from adekd.tasks.spec import task_from_dict

        task = task_from_dict(dict(task), "run summary task")
    return records_to_dataset(records, features=SILVER_FEATURES, task=task)


def silver_shards(folder: str | os.PathLike) -> list[Path]:
    """The record shards :func:`write_silver` wrote in ``folder`` (none after a run that labeled nothing;
    other parquet files a user put beside them are not the silver set)."""
    from adekd.hub import DATA_DIR

    return sorted(path for path in (Path(folder) / DATA_DIR).glob("*.parquet") if _SHARD.fullmatch(path.name))


def is_silver_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds the ``run_summary.json`` of an adekd labeling run (teacher and counts)."""
    try:
        summary = json.loads((Path(folder) / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(summary, dict) and all(
        isinstance(summary.get(key), dict) for key in ("teacher", "counts")
    )


RUN_FILE = ".adekd-run.json"
"""Which run wrote the folder (:func:`run_identity`): hidden, as it holds a local path, so ``adekd
publish`` never copies it to the Hub."""


def run_identity(summary: Mapping[str, Any], texts: Iterable[str] = ()) -> dict[str, str | None]:
    """What makes two labeling runs the same run: its input (the file, whatever path named it, or for
    texts given in memory a hash of them), teacher backend and model, and task. A rerun of the same
    run may rewrite its silver folder (with more sentences, say); a run that labels something else
    may not. ``summary``: the run's ``run_summary.json``; ``texts``: what it labeled, when in memory."""
    corpus, teacher, task = (summary.get(key) or {} for key in ("corpus", "teacher", "task"))
    source = corpus.get("source")
    return {
        "input": path_key(source) if source else f"texts {short_hash(list(texts))}",
        "teacher": teacher.get("backend"),
        "model": teacher.get("model"),
        "task": task.get("name"),
    }


def _saved_identity(folder: Path) -> dict[str, Any]:
    """The identity a silver folder's run left; from ``run_summary.json`` (no input) for folders
    written before :data:`RUN_FILE` existed."""
    try:
        return json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = run_identity(json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8")))
        del saved["input"]
        return saved


def check_silver_output(
    output_dir: str | os.PathLike, identity: Mapping[str, str | None] | None = None
) -> None:
    """Raise :class:`SilverOutputError` unless ``output_dir`` may be written as a silver folder.

    Writable: a path that does not exist yet, an empty folder, a silver folder adekd wrote (a rerun
    rewrites it; the answers come from the cache) or a folder holding only ``failures.jsonl`` (what
    a run that failed on every text leaves). With ``identity`` (:func:`run_identity` of the run
    about to write), a silver folder of another run is refused too. Call it before labeling, so a
    refused folder costs no teacher call.
    """
    folder = Path(output_dir)
    try:
        foreign = existing_entries(folder, ignore=(FAILURES_FILE,))
    except NotADirectoryError as err:
        raise SilverOutputError(f"output folder {err}; choose a folder path") from None
    if not foreign:
        return
    if not is_silver_folder(folder):
        raise SilverOutputError(
            f"output folder {folder} holds files adekd label did not write ({listed(foreign)}); writing "
            "the silver dataset there would replace or mix with them: choose a new or empty folder"
        )
    if identity is None:
        return
    saved = _saved_identity(folder)
    differences = [
        f"{key} {saved[key]!r}, now {identity[key]!r}" for key in saved if saved[key] != identity.get(key)
    ]
    if differences:
        raise SilverOutputError(
            f"output folder {folder} holds the silver labels of another run ({'; '.join(differences)}); "
            "labeling there would replace them: choose another folder, or remove it to label it again"
        )


def write_silver(
    output_dir: str | os.PathLike,
    records: Iterable[Record],
    failures: Iterable[Mapping[str, Any]],
    summary: Mapping[str, Any],
    identity: Mapping[str, str | None] | None = None,
) -> Path:
    """Write the silver folder (see the module docstring); replaces the files a previous run wrote.

    Refuses (:class:`SilverOutputError`) a folder :func:`check_silver_output` refuses; in an earlier
    silver folder only adekd's own files (card, ``data/train-*-of-*`` shards) are replaced, so
    files a user added there are kept. ``identity`` (:func:`run_identity`): the run writing, which a
    later run must match to write there again (kept in :data:`RUN_FILE`). Without any record only
    ``failures.jsonl`` and ``run_summary.json`` are written: ``datasets`` cannot load an empty split,
    so the folder does not pretend to be a dataset.
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    from adekd.hub import write_parquet_shards

    folder = Path(output_dir)
    check_silver_output(folder, identity)
    folder.mkdir(parents=True, exist_ok=True)
    if identity is not None:
        (folder / RUN_FILE).write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    for stale in (*silver_shards(folder), folder / CARD_FILE):
        stale.unlink(missing_ok=True)
    write_jsonl(failures, folder / FAILURES_FILE)  # type: ignore[arg-type]
    (folder / SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    dataset = silver_dataset(records, summary.get("task"))
    if not len(dataset):
        logger.warning("%s: no silver record to write (see %s)", folder, FAILURES_FILE)
        return folder
    task, teacher, prompt, counts = (summary.get(key, {}) for key in ("task", "teacher", "prompt", "counts"))
    card_data = DatasetCardData(tags=["adekd", "silver-labels", *task.get("card", {}).get("tags", [])])
    write_parquet_shards({"train": dataset}, folder, card_data)
    body = _CARD_BODY.format(
        title=task.get("title", "unknown task"),
        model=teacher.get("model"),
        teacher=teacher.get("backend"),
        prompt_id=prompt.get("id"),
        prompt_hash=prompt.get("hash"),
        records=counts.get("records", 0),
        failed=counts.get("failures", 0),
        rejected=counts.get("rejected_quotes", 0),
    )
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n{body}").save(folder / CARD_FILE)
    return folder
