"""adekd."""

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
