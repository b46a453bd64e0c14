"""Distillation end to end: label with a teacher, train a student on the silver labels, score both, publish.

``adekd distill`` on the command line; from Python::

    from adekd.distill import DistillConfig, distill

    result = distill(DistillConfig(input="sentences.txt", gold="gold.jsonl", output_dir="run"))
    print(result.table())
"""

from adekd.distill.config import DistillConfig, DistillConfigError, PublishConfig
from adekd.distill.pipeline import DistillError, DistillResult, check_silver, distill, format_summary

__all__ = [
    "DistillConfig",
    "DistillConfigError",
    "DistillError",
    "DistillResult",
    "PublishConfig",
    "check_silver",
    "distill",
    "format_summary",
]
