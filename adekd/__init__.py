"""adekd: distill LLM teachers into small drug-centric students for adverse drug event extraction.

Importing the package registers the student with transformers' Auto classes and the
``"ade-extraction"`` pipeline task, so ``AutoModel.from_pretrained`` and ``pipeline`` take a student
folder or Hub id without ``trust_remote_code``.
"""

from adekd.metrics import load_metric
from adekd.modeling import (
    AdeDataCollator,
    AdeExtractionPipeline,
    AdeStudentConfig,
    AdeStudentForExtraction,
    AdeStudentProcessor,
    extract,
    extract_file,
    init_student,
    iter_extract,
)

__all__ = [
    "AdeDataCollator",
    "AdeExtractionPipeline",
    "AdeStudentConfig",
    "AdeStudentForExtraction",
    "AdeStudentProcessor",
    "extract",
    "extract_file",
    "init_student",
    "iter_extract",
    "load_metric",
]
