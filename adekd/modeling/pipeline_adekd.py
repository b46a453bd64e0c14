"""The ``ade-extraction`` pipeline and ``extract``: texts or records in, records out.

Imports only torch, transformers, tqdm and its sibling files, so ``pipe.save_pretrained(DIR)``
writes a folder whose pipeline also runs through ``trust_remote_code`` without adekd installed.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import Pipeline, PretrainedConfig, PreTrainedModel, pipeline
from transformers.pipelines.base import ChunkPipeline

from .configuration_adekd import AdeStudentConfig
from .processing_adekd import AdeStudentProcessor

logger = logging.getLogger(__name__)

TASK = "ade-extraction"
_PREDICTION_KEYS = ("drug_spans", "drug_scores", "ade_spans", "ade_scores")


@dataclass
class ExtractionInput:
    """One validated input: its text, its id, the drugs given for it (None: the student finds them)."""

    id: str
    text: str
    drugs: list[dict] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Other keys of an input record, copied to the output record."""


def _check_drug(where: str, text: str, index: int, drug: Any) -> None:
    if not isinstance(drug, Mapping):
        raise TypeError(f"{where}: drug {index} must be a dict with start and end, got {type(drug).__name__}")
    start, end = drug.get("start"), drug.get("end")
    if (
        not isinstance(start, int)
        or not isinstance(end, int)
        or isinstance(start, bool)
        or isinstance(end, bool)
    ):
        raise TypeError(f"{where}: drug {index} needs integer 'start' and 'end', got {start!r}:{end!r}")
    if not 0 <= start < end <= len(text):
        raise ValueError(f"{where}: drug {index} span {start}:{end} outside text of length {len(text)}")
    if "text" in drug and text[start:end] != drug["text"]:
        raise ValueError(
            f"{where}: drug {index} span {start}:{end} is {text[start:end]!r}, not {drug['text']!r}"
        )


def to_extraction_input(
    item: Any, position: int | None = None, drugs: Sequence[Mapping] | None = None, drug_lexicon: Any = None
) -> ExtractionInput:
    """Validate one input (a text or a record dict) with the drugs to condition on, if any.

    ``drugs`` passed here are used as given, an empty list included (scoring with gold drugs: a
    sentence without any must get none). A record's own non-empty ``drugs`` are used as given; an
    empty or missing list means the student finds them, or ``drug_lexicon`` (an object with
    ``find(text) -> spans``) alone when given: a text it finds no drug in has none, so an output never
    mixes dictionary and tagger drugs without saying which is which. Raises ``TypeError`` or
    ``ValueError`` naming the input's position.
    """
    where = "input" if position is None else f"input {position}"
    extra: dict[str, Any] = {}
    record_id = None
    if isinstance(item, ExtractionInput):
        text, record_id, extra = item.text, item.id, item.extra
        drugs = item.drugs if drugs is None else drugs
    elif isinstance(item, str):
        text = item
    elif isinstance(item, Mapping):
        text, record_id = item.get("text"), item.get("id")
        if not isinstance(text, str):
            raise TypeError(f"{where}: a record needs a string 'text', got {type(text).__name__}")
        drugs = (item.get("drugs") or None) if drugs is None else drugs
        extra = {key: value for key, value in item.items() if key not in ("id", "text", "drugs", "ades")}
    else:
        raise TypeError(
            f"{where} must be a text (str) or a record dict with 'text', got {type(item).__name__}"
        )
    if record_id is not None:
        where = f"{where} (record {record_id!r})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{where}: text is not valid Unicode ({err.reason} at character {err.start})"
        ) from None
    if drugs is None and drug_lexicon is not None:
        drugs = drug_lexicon.find(text)
    if drugs is not None:
        if not isinstance(drugs, Sequence) or isinstance(drugs, (str, bytes)):
            raise TypeError(f"{where}: drugs must be a list of spans, got {type(drugs).__name__}")
        for index, drug in enumerate(drugs):
            _check_drug(where, text, index, drug)
        drugs = [dict(drug) for drug in drugs]
    if record_id is None:
        record_id = (
            str(position) if position is not None else "sha1-" + hashlib.sha1(text.encode()).hexdigest()[:16]
        )
    return ExtractionInput(id=str(record_id), text=text, drugs=drugs, extra=extra)


class AdeExtractionPipeline(ChunkPipeline):
    """Extract drugs and the ADEs each drug causes: ``pipeline("ade-extraction", model=DIR)``.

    Inputs: a text, a record dict (``text``, optional ``id`` and ``drugs``), or a list, dataset or
    generator of them. Each output is a record ``{"id", "text", "drugs", "ades"}`` (see
    :mod:`adekd.records`) with character offsets and, on every predicted span, a ``score`` (mean tag
    probability; spans below ``drug_threshold`` / ``ade_threshold`` are dropped, by default the
    student's own ``config.drug_threshold`` / ``config.ade_threshold``) and a ``label``: the type
    name of the student's task from its config (``anchor_label`` on drugs, ``target_label`` on ADEs,
    e.g. ``DRUG``/``ADE``, ``CHEMICAL``/``DISEASE``). Drugs passed in come back exactly as given.
    For any task, ``drugs`` hold the anchors and ``ades`` the targets. Texts longer than the encoder
    window are split into overlapping windows and merged::

        {"id": "0", "text": "Cisplatin-induced nephrotoxicity.",
         "drugs": [{"text": "Cisplatin", "start": 0, "end": 9, "score": 0.98, "label": "CHEMICAL"}],
         "ades": [{"drug": 0, "text": "nephrotoxicity", "start": 18, "end": 32, "score": 0.91,
                   "label": "DISEASE"}]}

    Call parameters: ``batch_size``, ``drug_lexicon`` (object with ``find(text)``, used where no
    drugs are given), ``drug_threshold``, ``ade_threshold``, ``max_length`` and ``stride`` (window
    size and overlap in tokens).
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._processors: dict[tuple[int | None, int | None], AdeStudentProcessor] = {}

    def student_processor(
        self, max_length: int | None = None, stride: int | None = None
    ) -> AdeStudentProcessor:
        """The processor for a window size and overlap (cached)."""
        key = (max_length, stride)
        if key not in self._processors:
            self._processors[key] = AdeStudentProcessor(self.tokenizer, self.model.config, max_length, stride)
        return self._processors[key]

    def _sanitize_parameters(
        self,
        drug_lexicon: Any = None,
        max_length: int | None = None,
        stride: int | None = None,
        drug_threshold: float | None = None,
        ade_threshold: float | None = None,
    ):
        preprocess: dict[str, Any] = {}
        if drug_lexicon is not None:
            preprocess["drug_lexicon"] = drug_lexicon
        if max_length is not None:
            preprocess["max_length"] = max_length
        if stride is not None:
            preprocess["stride"] = stride
        postprocess: dict[str, Any] = {}
        for name, threshold in (("drug_threshold", drug_threshold), ("ade_threshold", ade_threshold)):
            if threshold is not None:
                postprocess[name] = check_threshold(name, threshold)
        return preprocess, {}, postprocess

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if inputs is None:
            raise TypeError(
                "ade-extraction input must be a text (str) or a record dict with 'text', got None"
            )
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                return []
            inputs = [to_extraction_input(item, position) for position, item in enumerate(inputs)]
        return super().__call__(inputs, *args, **kwargs)

    def get_inference_context(self):
        return torch.inference_mode

    def preprocess(
        self, inputs: Any, drug_lexicon: Any = None, max_length: int | None = None, stride: int | None = None
    ) -> Iterator[dict[str, Any]]:
        source = to_extraction_input(inputs, drug_lexicon=drug_lexicon)
        windows = self.student_processor(max_length, stride).encode(source.text, source.drugs)
        for number, window in enumerate(windows):
            batch = self.student_processor(max_length, stride).collate([window])
            batch["find_drugs"] = torch.tensor([source.drugs is None])
            yield {**batch, "window": window, "source": source, "is_last": number == len(windows) - 1}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        meta = {key: model_inputs.pop(key) for key in ("window", "source", "is_last")}
        prediction = self.model.predict_spans(**model_inputs)
        return {key: prediction[key] for key in _PREDICTION_KEYS} | meta

    def postprocess(
        self,
        all_outputs: list[dict[str, Any]],
        drug_threshold: float | None = None,
        ade_threshold: float | None = None,
    ) -> dict[str, Any]:
        source: ExtractionInput = all_outputs[0]["source"]
        predictions = [{key: output[key][0] for key in _PREDICTION_KEYS} for output in all_outputs]
        drugs, ades = self.student_processor().decode(
            source.text,
            [output["window"] for output in all_outputs],
            predictions,
            source.drugs,
            drug_threshold=drug_threshold,
            ade_threshold=ade_threshold,
        )
        config = self.model.config
        if source.drugs is None:  # drugs given by the caller come back exactly as given
            drugs = [{**drug, "label": config.anchor_label} for drug in drugs]
        ades = [{**ade, "label": config.target_label} for ade in ades]
        return {"id": source.id, "text": source.text, **source.extra, "drugs": drugs, "ades": ades}


def load_pipeline(
    model: str | os.PathLike | PreTrainedModel | Pipeline,
    tokenizer: Any = None,
    device: int | str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
) -> AdeExtractionPipeline:
    """An ``ade-extraction`` pipeline from a model folder or Hub id, a loaded student, or a pipeline.

    ``dtype`` is a floating-point precision (``torch.bfloat16``, ``"float16"``...) or ``"int8"``:
    every ``nn.Linear`` dynamically quantized to int8 on CPU (weights int8, activations quantized
    per batch), the fastest CPU option measured in ``benchmarks/inference.py`` at a cost of up to two
    strict F1 points (``benchmarks/results/supervised.md``). A loaded model passed in is copied, not changed.
    ``revision`` (a branch, tag or commit of a Hub id) pins the student a corpus run or a published
    result used: a later push to the repository then changes nothing.
    """
    if isinstance(model, Pipeline):
        check_revision(model, revision)
        return model  # type: ignore[return-value]
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    check_revision(model, revision)
    if isinstance(model, str):
        check_student_folder(model)
    check_device(device)
    check_dtype(dtype)
    if tokenizer is None and not isinstance(model, str):
        tokenizer = getattr(model, "name_or_path", None) or None
        if tokenizer is None:
            raise ValueError("a loaded model needs its tokenizer: pass tokenizer=")
    hub = {} if revision is None else {"revision": revision}
    if dtype == "int8":
        on_cpu = "cpu" if device is None else device
        pipe = pipeline(TASK, model=model, tokenizer=tokenizer, device=on_cpu, **hub)
        pipe.model = quantize_int8(pipe.model)
        return pipe
    extra = {} if dtype is None else {"dtype": dtype}
    return pipeline(TASK, model=model, tokenizer=tokenizer, device=device, **hub, **extra)


def check_revision(model: Any, revision: str | None) -> None:
    """Refuse a revision for what has none (a local folder, a loaded model or pipeline): transformers
    would ignore it, and the run would not use the version it names."""
    if revision is None:
        return
    if not isinstance(revision, str) or not revision.strip():
        raise ValueError(f"revision must be a branch, tag or commit of a Hub id, got {revision!r}")
    if not isinstance(model, str):
        raise ValueError(f"revision {revision!r} applies to a Hub id, not to a loaded {type(model).__name__}")
    if os.path.exists(model):
        raise ValueError(f"revision {revision!r} applies to a Hub id; {model} is a local path")


def check_student_folder(model: str) -> None:
    """Refuse a local path that holds no adekd student, before any weights load: transformers would
    say "Unrecognized model" or fail deep inside loading. Hub ids are left to transformers."""
    if os.path.isfile(model):
        raise NotADirectoryError(f"{model} is a file, not a student folder")
    if not os.path.isdir(model):
        if os.sep in model[:1] or model.startswith("."):
            raise FileNotFoundError(f"{model}: no such model folder")
        return
    if not os.path.isfile(os.path.join(model, "config.json")):
        raise ValueError(f"{model} is not an adekd student folder: it has no config.json")
    model_type = PretrainedConfig.get_config_dict(model)[0].get("model_type")
    if model_type != AdeStudentConfig.model_type:
        raise ValueError(
            f"{model} is not an adekd student: its config.json has model_type {model_type!r}, not "
            f"{AdeStudentConfig.model_type!r} (make one with `adekd train`)"
        )


DTYPES = ("float32", "bfloat16", "float16", "int8", "auto")
"""The precisions :func:`load_pipeline` takes by name (``auto``: the one the weights were saved in)."""


def check_dtype(dtype: torch.dtype | str | None) -> None:
    """Refuse a precision the student cannot run in, before any model loads: transformers falls back
    to float32 on an unknown name ("int4") and raises an ``AttributeError`` on an alias ("bf16")."""
    if dtype is None or dtype in DTYPES or dtype in (torch.float32, torch.bfloat16, torch.float16):
        return
    raise ValueError(
        f"dtype {dtype!r} is not one of {', '.join(DTYPES)} (or torch.float32, torch.bfloat16, torch.float16)"
    )


def check_device(device: int | str | torch.device | None) -> None:
    """Refuse a device this torch cannot use, before any model loads: torch's own errors (a
    RuntimeError for a misspelt name, an AssertionError for ``cuda`` on a CPU-only build) come late
    and do not say which argument was wrong. An integer is transformers' accelerator index (-1: CPU).
    Messages start with ``device <value>``."""
    if device is None or isinstance(device, int):
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device {str(device)!r} is not a torch device; use e.g. cpu, cuda, cuda:1 or mps"
        ) from None
    if parsed.type == "cpu":
        return
    backend = getattr(torch, parsed.type, None)
    what = "GPU" if parsed.type == "cuda" else f"{parsed.type} device"
    refused = f"device {str(device)!r} cannot be used"
    is_available = getattr(backend, "is_available", None)
    if is_available is not None and not is_available():
        raise ValueError(f"{refused}: no {what} is available to this torch ({torch.__version__})")
    device_count = getattr(backend, "device_count", None)
    if parsed.index is not None and device_count is not None and parsed.index >= device_count():
        raise ValueError(f"{refused}: this machine has {device_count()} {what}(s), numbered from 0")


def check_threshold(name: str, value: float) -> float:
    """``value`` if it can cut span scores (probabilities): a threshold above 1 silently drops every
    span, and one below 0 keeps them all, which is never what a caller meant."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a score between 0 and 1, got {value!r}")
    return float(value)


def quantize_int8(model: PreTrainedModel) -> PreTrainedModel:
    """A copy of ``model`` whose ``nn.Linear`` layers are dynamically quantized to int8 (CPU only).

    Weights get one scale per output channel: on the ADE fold-0 dev split that kept 0.6 strict and
    1.8 lenient pair F1 points more than one scale per matrix, at the same speed.
    """
    if model.device.type != "cpu":
        raise ValueError(f"int8 dynamic quantization runs on CPU only; the model is on {model.device}")
    per_channel = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    with warnings.catch_warnings():  # torch asks eager-mode users to migrate to torchao; this API still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, per_channel, dtype=torch.qint8)


def longest_first(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Positions of ``texts`` by decreasing token count.

    Batches of similar token counts waste little compute on padding; character length is a poor
    proxy: on the ADE test sentences, batches of 16 sorted by characters hold 16% more tokens,
    padding included, than batches sorted by token count. One batched call of a fast tokenizer
    costs about 1% of the forward passes it saves.
    """
    counts = tokenizer(
        list(texts),
        add_special_tokens=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]
    return sorted(range(len(texts)), key=lambda i: -len(counts[i]))


def iter_extract(
    inputs: Iterable[Any],
    model: str | os.PathLike | PreTrainedModel | Pipeline,
    *,
    tokenizer: Any = None,
    batch_size: int = 32,
    drugs: Iterable[Sequence[Mapping] | None] | None = None,
    drug_lexicon: Any = None,
    drug_threshold: float | None = None,
    ade_threshold: float | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    device: int | str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
    chunk_size: int = 4096,
    progress: bool = False,
    total: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream records out in input order; each chunk of ``chunk_size`` inputs runs in length-sorted batches.

    Sorting by token count keeps padding small; reading in chunks keeps memory bounded for inputs of
    millions of sentences. See :func:`extract` for the arguments.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    pipe = load_pipeline(model, tokenizer=tokenizer, device=device, dtype=dtype, revision=revision)
    given_options = (
        ("drug_threshold", drug_threshold),
        ("ade_threshold", ade_threshold),
        ("max_length", max_length),
        ("stride", stride),
    )
    call = {key: value for key, value in given_options if value is not None}
    given = iter(drugs) if drugs is not None else itertools.repeat(None)
    numbered = enumerate(inputs)
    with tqdm(total=total, unit="text", disable=not progress, desc="extracting") as bar:
        while chunk := list(itertools.islice(numbered, chunk_size)):
            sources = [
                to_extraction_input(item, position, next(given, None), drug_lexicon)
                for position, item in chunk
            ]
            order = longest_first(pipe.tokenizer, [source.text for source in sources])
            outputs = pipe([sources[i] for i in order], batch_size=batch_size, **call)
            records: list[dict[str, Any]] = [{}] * len(sources)
            for i, record in zip(order, outputs, strict=True):
                records[i] = record
            bar.update(len(records))
            yield from records


def extract(
    texts: str | Mapping | Iterable[Any],
    model: str | os.PathLike | PreTrainedModel | Pipeline,
    **kwargs: Any,
) -> list[dict[str, Any]] | dict[str, Any]:
    """Extract drugs and their ADEs from texts or records with a trained student.

    Args:
        texts: a text, a record dict, or an iterable of them (``None`` or other types raise a
            ``TypeError`` naming the position). Records' non-empty ``drugs`` are used as given.
        model: a student folder or Hub id, a loaded ``AdeStudentForExtraction`` (then pass
            ``tokenizer=``), or an ``ade-extraction`` pipeline.
        tokenizer: tokenizer or its path, when ``model`` is a loaded model.
        batch_size: windows per forward pass.
        drugs: per input, the drug spans to condition on, used as given (an empty list: the input
            has no drug); None entries: find them.
        drug_lexicon: object with ``find(text) -> spans``, used where no drugs are given.
        drug_threshold, ade_threshold: drop spans scoring below (default: the student's own
            ``config.drug_threshold`` / ``config.ade_threshold``, 0 unless tuned on dev in training).
        max_length, stride: window size and overlap in tokens for long texts.
        device, dtype: where and in which precision a model loaded here runs (``dtype="int8"``:
            dynamic int8 quantization on CPU, see :func:`load_pipeline`).
        revision: branch, tag or commit of a Hub id ``model`` (default: its main branch).
        progress: show a progress bar.

    Returns:
        One record per input, in input order (a single record for a single input). Texts get ids
        ``"0"``, ``"1"``, ... by position; records keep theirs. Predicted spans carry ``score`` and
        the task's ``label`` (see :class:`AdeExtractionPipeline`).
    """
    if isinstance(texts, (str, Mapping)):
        return next(iter_extract([texts], model, **kwargs))
    if texts is None:
        raise TypeError("texts must be a text, a record dict or an iterable of them, got None")
    items = list(texts)
    return list(iter_extract(items, model, total=len(items), **kwargs))


__all__ = [
    "AdeExtractionPipeline",
    "ExtractionInput",
    "extract",
    "iter_extract",
    "load_pipeline",
    "quantize_int8",
    "to_extraction_input",
]
