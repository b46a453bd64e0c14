"""The teacher: an LLM that labels unlabeled sentences (silver labels) for a task of :mod:`adekd.tasks`:
by default the drugs of each sentence and the adverse events they caused.

:func:`label` runs a labeling job (``adekd label`` on the command line) and returns a
:class:`LabelRunResult` whose :meth:`~LabelRunResult.save` writes a folder ``load_dataset`` reads.
The pieces are public for finer control: prompts (:func:`load_prompt`), the answer schema and
parser, quote-to-span alignment (:func:`align_answer`), the answer cache and the backends.
"""

from adekd.teacher.alignment import Alignment, Match, RejectedQuote, align_answer, find_quote
from adekd.teacher.backends import (
    Backend,
    BackendError,
    ChatRequest,
    Generation,
    RequestError,
    TransientError,
)
from adekd.teacher.cache import AnswerCache, cache_key, default_cache_path
from adekd.teacher.parsing import AnswerParseError, ParsedAnswer, parse_answer
from adekd.teacher.prompts import BUILTIN_PROMPTS, Example, PromptError, PromptTemplate, load_prompt
from adekd.teacher.run import LabelConfig, LabelRunResult, build_backend, label, label_async, read_inputs
from adekd.teacher.schema import DrugAnswer, answer_schema, quote_choices
from adekd.teacher.silver import (
    SILVER_FEATURES,
    SilverOutputError,
    check_silver_output,
    is_silver_folder,
    silver_dataset,
    write_silver,
)

__all__ = [
    "BUILTIN_PROMPTS",
    "SILVER_FEATURES",
    "Alignment",
    "AnswerCache",
    "AnswerParseError",
    "Backend",
    "BackendError",
    "ChatRequest",
    "DrugAnswer",
    "Example",
    "Generation",
    "LabelConfig",
    "LabelRunResult",
    "Match",
    "ParsedAnswer",
    "PromptError",
    "PromptTemplate",
    "RejectedQuote",
    "RequestError",
    "SilverOutputError",
    "TransientError",
    "align_answer",
    "answer_schema",
    "build_backend",
    "cache_key",
    "check_silver_output",
    "default_cache_path",
    "find_quote",
    "is_silver_folder",
    "label",
    "label_async",
    "load_prompt",
    "parse_answer",
    "quote_choices",
    "read_inputs",
    "silver_dataset",
    "write_silver",
]
