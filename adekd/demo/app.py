"""The Gradio app of the adekd Space: extract ADEs drug by drug, and score a model on a gold file.

:func:`build_demo` is the one place the app is assembled; ``spaces/ade-demo/app.py`` and
``adekd demo`` both call it, so the Space and the installed command serve the same app. The
callbacks only translate between widgets and the library (:func:`adekd.modeling.extract`,
:func:`adekd.metrics.score`, :func:`adekd.records.read_jsonl`): nothing here extracts or scores.

The page speaks the model's task (its config's type names, :class:`adekd.tasks.words.TaskWords`):
a chemical-disease student shows chemicals and the diseases they induced where an ADE student shows
drugs and ADEs. Headings and labels follow the model loaded at start; each result, the model that
produced it.

Every callback turns bad input into a message in the page (never a stack trace) and returns empty
outputs, so one bad request never stops the app from serving the next.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from adekd.corpora import DrugLexicon
from adekd.corpora.loading import labeled_in
from adekd.demo import views
from adekd.metrics import score
from adekd.modeling import AdeStudentConfig, extract, load_pipeline
from adekd.records import Record, ValidationReport, read_jsonl
from adekd.tasks.words import TaskWords

logger = logging.getLogger(__name__)

MODEL_ENV = "ADEKD_MODEL"
MODEL_REVISION_ENV = "ADEKD_MODEL_REVISION"
"""A branch, tag or commit of the Hub model the app starts with (a Space variable pins its student)."""
DEFAULT_MODEL = "adekd/ade-student-minilm"
"""The student the distillation run publishes; ``$ADEKD_MODEL`` or ``--model`` pick another."""

ADE_EXAMPLES = [
    [
        "Two weeks after starting oral amoxicillin-clavulanate, a 54-year-old woman developed cholestatic "
        "hepatitis.",
        "",
    ],
    [
        "Methotrexate-induced pneumonitis and cyclosporine nephrotoxicity were seen in two transplant "
        "recipients.",
        "",
    ],
    ["Red man syndrome and acute interstitial nephritis followed intravenous vancomycin.", "vancomycin"],
    [
        "Lithium toxicity with tremor and confusion developed after hydrochlorothiazide was added.",
        "lithium, hydrochlorothiazide",
    ],
]


def examples(words: TaskWords) -> list[list[str]]:
    """Example inputs (text, drugs given): written for the ADE task, the few-shot texts of other
    built-in tasks, none for a user's own task."""
    if words.task == "ade":
        return ADE_EXAMPLES
    spec = words.builtin_spec()
    return [[example["text"], ""] for example in spec.prompt.examples] if spec else []


def task_words(pipe: Any) -> TaskWords:
    """The words of the task an ``ade-extraction`` pipeline's model was trained for."""
    return TaskWords.of(pipe.model.config)


def heading(words: TaskWords) -> str:
    """What the page is about: ``adverse drug events, drug by drug``."""
    spec = words.builtin_spec()
    topic = spec.title.lower() if spec else words.task
    return f"{topic}, {words.anchor} by {words.anchor}"


METRIC_HEADERS = [
    "unit",
    "strict P",
    "strict R",
    "strict F1",
    "lenient P",
    "lenient R",
    "lenient F1",
    "predicted",
    "gold",
]


@dataclass
class DemoConfig:
    """Limits that keep a shared CPU Space responsive; the defaults suit a free Space."""

    max_chars: int = 5_000
    """Longer texts are cut, with a visible note: the student reads sentences, not books."""
    max_eval_records: int = 2_000
    """Gold files the app predicts on are cut to this many records (uploaded predictions are not)."""
    max_error_sentences: int = 100
    """Sentences with errors shown in the page; the downloadable report lists all of them."""
    threshold: float | None = None
    """Initial position of the ADE confidence slider; ``None``: the threshold the model was tuned to
    (``adekd train --tune-thresholds``), else :data:`UNTUNED_THRESHOLD`."""
    concurrency_limit: int = 2
    """Model calls running at once; extraction and evaluation share the limit."""
    max_queue: int = 32
    """Waiting requests beyond which new ones are turned away with a 'queue full' message."""
    max_file_size: str = "20mb"
    """Largest upload accepted."""
    batch_size: int = 16
    """Sentences per forward pass when the app predicts a gold file."""
    max_models: int = 2
    """Models kept loaded at once (the configured one and the last one typed in the page)."""


UNTUNED_THRESHOLD = 0.5
"""Where the slider starts for a model with no tuned ADE threshold."""


def initial_threshold(pipe: Any, config: DemoConfig) -> float:
    """The slider's start: the configured value, else the model's tuned ADE threshold, else 0.5."""
    if config.threshold is not None:
        return config.threshold
    tuned = getattr(pipe.model.config, "ade_threshold", None) if pipe is not None else None
    return UNTUNED_THRESHOLD if tuned is None else tuned  # a tuned 0.0 is a threshold like any other


class DemoInputError(Exception):
    """Input the user can fix; its message is shown in the page as is."""


def resolve_model(model: str | os.PathLike | None = None) -> str:
    """The model to serve: ``model`` if given, else ``$ADEKD_MODEL``, else :data:`DEFAULT_MODEL`."""
    return os.fspath(model) if model else os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def check_model_name(name: str) -> None:
    """Refuse a name that is neither an existing folder nor a possible Hub id, before any loading."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(name).expanduser().exists():
        return
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise DemoInputError(f"Model folder {name!r} does not exist.") from None


def load_model(name: str, revision: str | None = None) -> Any:
    """The ``ade-extraction`` pipeline of a local folder or Hub id (at ``revision``: a branch, tag or
    commit of the Hub id); :class:`DemoInputError` says why not.

    The config is read first, so a Hub id of some other model fails before its weights download.
    """
    from transformers import AutoConfig

    check_model_name(name)
    path = Path(name).expanduser()
    source, where = (str(path), "folder") if path.exists() else (name, "Hub id")
    if revision and path.exists():
        raise DemoInputError(f"Revision {revision!r} applies to a Hub id; {name!r} is a local folder.")
    try:
        model_type = AutoConfig.from_pretrained(source, revision=revision).model_type
        if model_type != AdeStudentConfig.model_type:
            raise DemoInputError(f"Model {where} {name!r} is a {model_type!r} model, not an adekd student.")
        return load_pipeline(source, revision=revision)
    except DemoInputError:
        raise
    except Exception as err:  # noqa: BLE001 - transformers raises many kinds; all mean "cannot load"
        raise DemoInputError(f"Model {where} {name!r} could not be loaded: {err}") from err


class ModelCache:
    """Models by name: each loads once, on first use; the least recently used goes beyond ``size``.

    The bound keeps a public Space's memory in check when visitors type other models.
    """

    def __init__(self, loader: Callable[[str], Any] = load_model, size: int = 2) -> None:
        self._loader = loader
        self._size = size
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        name = (name or "").strip()
        if not name:
            raise DemoInputError("Enter a model: a local folder or a Hugging Face Hub id.")
        with self._lock:
            if name not in self._models:
                self._models[name] = self._loader(name)
                while len(self._models) > self._size:
                    self._models.popitem(last=False)
            self._models.move_to_end(name)
            return self._models[name]


def parse_drug_names(value: str | None) -> list[str]:
    """Drug names typed by the user, separated by commas, semicolons or new lines."""
    return [name.strip() for name in re.split(r"[,;\n]", value or "") if name.strip()]


def given_drug_spans(text: str, names: list[str]) -> tuple[list[dict], str]:
    """Mentions of the typed drug names in ``text``, and a note naming those that do not occur.

    Matching is :class:`adekd.corpora.DrugLexicon`'s (case and hyphens ignored, token boundaries),
    with no length or common-word filter since the user typed the names on purpose.
    """
    lexicon = DrugLexicon(names, min_length=1, exact_case_max_length=0, exclude=())
    spans = lexicon.find(text)
    found = {lexicon.canonical(span["text"]) for span in spans}
    absent = [name for name in names if lexicon.canonical(name) not in found]
    if not spans:
        raise DemoInputError(f"None of the drugs given ({', '.join(names)}) occurs in the text.")
    note = f"Not in the text, ignored: {', '.join(absent)}." if absent else ""
    return spans, note


def _friendly(empty: tuple) -> Callable:
    """Run a callback; on failure return ``empty`` with a message in its first slot (the status).

    :class:`DemoInputError` messages are shown as they are; anything else is logged with its
    traceback on the server and shown as one line naming the error.
    """

    def decorate(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def run(*args: Any) -> tuple:
            try:
                return callback(*args)
            except DemoInputError as err:
                return (f"**{err}**", *empty[1:])
            except Exception as err:  # noqa: BLE001 - whatever fails, the page must keep working
                logger.exception("%s failed", callback.__name__)
                return (f"**Something went wrong: {type(err).__name__}: {err}**", *empty[1:])

        return run

    return decorate


def read_upload(path: str | None, role: str) -> tuple[list[Record], list[str]]:
    """Records of an uploaded JSONL and the problems of the lines skipped (with line numbers)."""
    if not path:
        raise DemoInputError(f"Upload a {role} JSONL file.")
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as err:  # an API caller's path, or an upload Gradio already cleaned up
        raise DemoInputError(
            f"The {role} file {name!r} cannot be read ({err.strerror}); upload it again."
        ) from None
    bad = data.find(b"\x00")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start if bad < 0 else min(bad, err.start)
    if bad >= 0:
        raise DemoInputError(
            f"The {role} file {name!r} is not UTF-8 text (binary data at byte {bad}); "
            "upload a JSONL file with one record per line."
        )
    report = ValidationReport()
    records = read_jsonl(path, on_error="skip", report=report)
    problems = [error.replace(os.fspath(path), name, 1) for error in report.errors]
    if not records:
        first = f": {problems[0]}" if problems else ""
        raise DemoInputError(f"The {role} file {name!r} has no valid record{first}")
    if not labeled_in(data):  # texts read as records with no pair: every score would be 0
        raise DemoInputError(
            f'The {role} file {name!r} holds texts without labels: no record has "drugs" or "ades". '
            "Upload records in the shape adekd writes."
        )
    return records, problems


def _write_report(report: dict) -> str:
    path = Path(tempfile.mkdtemp(prefix="adekd-report-")) / "ade_f1_report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return str(path)


def metric_rows(results: dict, words: TaskWords | None = None) -> list[list]:
    """One row per unit (pairs, drugs, ADEs): strict and lenient P/R/F1 in %, then the counts."""
    words = words or TaskWords.of()
    rows = []
    units = ((words.pairs, ""), (f"{words.anchor} mentions", "drug_"), (f"{words.target} mentions", "ade_"))
    for label, prefix in units:
        row: list = [label]
        for matching in ("strict", "lenient"):
            row += [round(100 * results[f"{prefix}{matching}_{m}"], 2) for m in ("precision", "recall", "f1")]
        rows.append(row + [results[f"{prefix}num_predicted"], results[f"{prefix}num_gold"]])
    return rows


def build_demo(
    model: str | os.PathLike | None = None, config: DemoConfig | None = None, revision: str | None = None
) -> gr.Blocks:
    """The whole app. ``model`` (else ``$ADEKD_MODEL``, else the published student) loads right away, at
    ``revision`` (else ``$ADEKD_MODEL_REVISION``, else main) when it is a Hub id.

    A model that cannot load does not stop the app: the page says why, and another model can be
    typed in the model box (those load at main).
    """
    config = config or DemoConfig()
    model_name = resolve_model(model)
    revision = revision or os.environ.get(MODEL_REVISION_ENV) or None
    models = ModelCache(
        loader=lambda name: load_model(name, revision if name == model_name else None), size=config.max_models
    )
    model_note = ""
    words = TaskWords.of()
    pipe = None
    try:
        pipe = models.get(model_name)
        words = task_words(pipe)
    except DemoInputError as err:
        logger.warning("%s", err)
        model_note = f"**{err}** Type another model (a local folder or a Hub id) in the *Model* box."

    anchor, target = words.anchor, words.target
    with gr.Blocks(title=f"adekd: {heading(words)}", analytics_enabled=False) as demo:
        gr.Markdown(
            f"# adekd: {heading(words)}\n"
            f"A small student distilled from an LLM finds the {words.anchor_type}s in a biomedical "
            f"sentence and, for each {words.anchor_type}, the {words.target_type}s it {words.relation}. "
            f"Every {anchor} gets its own view: "
            f"<span style='background:{views.ANCHOR_COLOR}'>&nbsp;{anchor}&nbsp;</span> and the "
            f"<span style='background:{views.TARGET_COLOR}'>&nbsp;{target}s&nbsp;</span> it {words.relation} "
            f"(<span style='background:{views.OTHER_ANCHOR_COLOR}'>&nbsp;other {anchor}s&nbsp;</span> "
            "in grey)."
        )
        with gr.Row():
            model_box = gr.Textbox(
                value=model_name, label="Model", info="A student folder or a Hub id", scale=3, elem_id="model"
            )
            threshold = gr.Slider(
                0.0,
                1.0,
                value=initial_threshold(pipe, config),
                step=0.05,
                label=f"{target} confidence threshold",
                info=f"{target}s scoring lower are hidden (Extract) or dropped (Evaluate)",
                scale=2,
                elem_id="threshold",
            )
        gr.Markdown(model_note, elem_id="model-status")
        with gr.Tabs():
            with gr.Tab("Extract", id="extract"):
                _extract_tab(models, model_box, threshold, config, words)
            with gr.Tab("Evaluate", id="evaluate"):
                _evaluate_tab(models, model_box, threshold, config, words)
    demo.queue(max_size=config.max_queue, default_concurrency_limit=config.concurrency_limit)
    return demo


def _extract_tab(
    models: ModelCache, model_box: gr.Textbox, threshold: gr.Slider, config: DemoConfig, words: TaskWords
) -> None:
    anchors = f"{words.anchor}s"
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(
                label="Text", lines=3, placeholder="Paste a sentence from a case report", elem_id="text"
            )
        with gr.Column(scale=2):
            drugs_given = gr.Textbox(
                label=f"{anchors.capitalize()} given (optional)",
                placeholder="e.g. aspirin, ibuprofen" if words.task == "ade" else None,
                info=f"Names separated by commas; empty: the model finds the {anchors}",
                elem_id="drugs-given",
            )
            button = gr.Button("Extract", variant="primary", elem_id="extract-button")
    if examples(words):
        gr.Examples(examples(words), inputs=[text, drugs_given], label="Examples")
    status = gr.Markdown(label="status", elem_id="extract-status")
    result = gr.State(None)  # the unfiltered record and the notes about its input, for the slider
    views_state = gr.State([])

    @gr.render(inputs=views_state)
    def _drug_views(drug_views: list[dict]) -> None:
        for index, view in enumerate(drug_views):
            gr.HighlightedText(
                view["segments"],
                label=view["title"],
                color_map=view["colors"],
                elem_classes=["drug-view"],
                key=f"drug-view-{index}",
            )

    table = gr.Dataframe(
        headers=views.table_headers(words), interactive=False, label=words.pairs, elem_id="pairs"
    )
    with gr.Accordion("Raw record (JSON)", open=False):
        record_json = gr.JSON(label="record", elem_id="record")

    def show(record: Record, notes: list[str], cut: float, names: dict[str, str]) -> tuple:
        used = TaskWords.of(names)  # the words of the model that made the record
        kept = views.ades_scoring_at_least(record, cut)
        if kept["drugs"]:
            anchors = views.count(len(kept["drugs"]), used.anchor)
            summary = f"{anchors}, {views.count(len(kept['ades']), used.target)} scoring at least {cut:.2f}."
        else:
            plural = f"{used.anchor}s"
            summary = f"No {used.anchor} found: name the {plural} in *{plural.capitalize()} given* "
            summary += "to ask about them."
        colors = views.color_map(used)
        drug_views = [
            {"title": v.title, "segments": v.segments, "colors": colors} for v in views.drug_views(kept, used)
        ]
        rows = {"headers": views.table_headers(used), "data": views.pair_rows(kept)}
        return "\n\n".join([summary, *notes]), drug_views, rows, kept

    @_friendly(("", None, [], [], None))
    def run_extract(value: str, drug_names: str, name: str, cut: float) -> tuple:
        if not value or not value.strip():
            raise DemoInputError("Enter a sentence to analyse.")
        value, cap_note = views.cap_text(value, config.max_chars)
        notes = [cap_note] if cap_note else []
        names = parse_drug_names(drug_names)
        drugs = None
        if names:
            drugs, absent_note = given_drug_spans(value, names)
            notes += [absent_note] if absent_note else []
        pipe = models.get(name)
        names = task_words(pipe).type_names()
        record = extract(value, model=pipe, drugs=[drugs], ade_threshold=0.0)  # the slider filters
        status, drug_views, rows, kept = show(record, notes, cut, names)
        return status, {"record": record, "notes": notes, "words": names}, drug_views, rows, kept

    @_friendly(("", [], [], None))
    def rethreshold(last: dict | None, cut: float) -> tuple:
        if last is None:
            return "", [], [], None
        return show(last["record"], last["notes"], cut, last["words"])

    inputs = [text, drugs_given, model_box, threshold]
    outputs = [status, result, views_state, table, record_json]
    limit = {"concurrency_limit": config.concurrency_limit, "concurrency_id": "model"}
    button.click(run_extract, inputs, outputs, api_name="extract", **limit)
    text.submit(run_extract, inputs, outputs, api_visibility="private", **limit)
    threshold.release(
        rethreshold, [result, threshold], [status, views_state, table, record_json], api_visibility="private"
    )


def _evaluate_tab(
    models: ModelCache, model_box: gr.Textbox, threshold: gr.Slider, config: DemoConfig, words: TaskWords
) -> None:
    gr.Markdown(
        "Score a model with the `ade_f1` metric: upload gold records (JSONL, one record per line, "
        "the shape `adekd` writes) and the predicted records, or only the gold file and the app "
        "predicts with the model above. Records are paired by `id`."
    )
    with gr.Row():
        gold_file = gr.File(label="Gold JSONL", file_types=[".jsonl", ".json", ".txt"], elem_id="gold-file")
        pred_file = gr.File(
            label="Predicted JSONL (optional)", file_types=[".jsonl", ".json", ".txt"], elem_id="pred-file"
        )
    with gr.Row():
        use_gold_drugs = gr.Checkbox(
            value=True,
            label=f"When predicting, give the model the gold {words.anchor}s",
            elem_id="use-gold-drugs",
        )
        matching = gr.Radio(
            ["strict", "lenient"], value="strict", label="Errors listed under", elem_id="matching"
        )
        button = gr.Button("Evaluate", variant="primary", elem_id="evaluate-button")
    status = gr.Markdown(label="status", elem_id="evaluate-status")
    table = gr.Dataframe(
        headers=METRIC_HEADERS, interactive=False, label="Micro P / R / F1 (%)", elem_id="metrics"
    )
    errors = gr.HTML(elem_id="errors")
    report_file = gr.File(label="Report (JSON)", interactive=False, elem_id="report")

    @_friendly(("", [], "", None))
    def run_evaluate(
        gold_path: str | None,
        pred_path: str | None,
        gold_drugs: bool,
        error_matching: str,
        name: str,
        cut: float,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio's way to ask for progress
    ) -> tuple:
        gold, problems = read_upload(gold_path, "gold")
        notes = [f"Gold: {len(gold)} records."]
        used = words  # uploaded predictions: the page's words; predicting: the model's
        if pred_path:
            predictions, pred_problems = read_upload(pred_path, "predicted")
            problems += pred_problems
            notes.append(f"Predictions: {len(predictions)} records from {Path(pred_path).name!r}.")
        else:
            if len(gold) > config.max_eval_records:
                notes.append(
                    f"Only the first {config.max_eval_records:,} of {len(gold):,} gold records were "
                    "predicted and scored (the demo's limit); upload predictions to score them all."
                )
                gold = gold[: config.max_eval_records]
            inputs = [{**r, "drugs": []} for r in gold]
            gold_spans = [r["drugs"] for r in gold] if gold_drugs else None  # []: the sentence has none
            pipe = models.get(name)
            used = task_words(pipe)
            predictions = extract(
                inputs,
                model=pipe,
                batch_size=config.batch_size,
                drugs=gold_spans,
                ade_threshold=cut,
                progress=True,
            )
            given = f", given the gold {used.anchor}s" if gold_drugs else ""
            notes.append(f"Predictions: made by `{name}`{given}, {used.target}s scoring at least {cut:.2f}.")
        try:
            results = score(predictions, gold, return_per_record=True)
        except ValueError as err:
            raise DemoInputError(f"The files cannot be scored together: {err}") from None
        if results["num_missing_predictions"]:
            notes.append(
                f"{results['num_missing_predictions']} gold records had no prediction and count as "
                "predicting nothing."
            )
        if problems:
            notes.append(
                f"Skipped {views.count(len(problems), 'broken line')} (the rest was scored):\n\n"
                + "\n".join(f"- {p}" for p in problems[:20])
            )
        per_record = results.pop("per_record")
        error_listing, num_wrong = views.error_html(
            per_record, error_matching, config.max_error_sentences, used
        )
        notes.insert(
            0,
            f"Strict pair F1 **{100 * results['strict_f1']:.2f}**, lenient pair F1 "
            f"**{100 * results['lenient_f1']:.2f}**; {views.count(num_wrong, 'sentence')} with "
            f"{error_matching} errors.",
        )
        report = {
            "metrics": results,
            "notes": notes,
            "skipped_lines": problems,
            "config": asdict(config),
            "per_record": per_record,
        }
        return "\n\n".join(notes), metric_rows(results, used), error_listing, _write_report(report)

    button.click(
        run_evaluate,
        [gold_file, pred_file, use_gold_drugs, matching, model_box, threshold],
        [status, table, errors, report_file],
        api_name="evaluate",
        concurrency_limit=config.concurrency_limit,
        concurrency_id="model",
    )


def launch_demo(
    model: str | os.PathLike | None = None,
    host: str | None = None,
    port: int | None = None,
    config: DemoConfig | None = None,
    block: bool = True,
    revision: str | None = None,
) -> gr.Blocks:
    """Build and serve the app; ``host`` None means ``$GRADIO_SERVER_NAME`` or 127.0.0.1, ``port`` None
    means ``$GRADIO_SERVER_PORT`` or the first free port from 7860 (what a Space expects)."""
    config = config or DemoConfig()
    demo = build_demo(model, config, revision)
    demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=config.max_file_size,
        prevent_thread_lock=not block,
        show_error=False,
        quiet=False,
    )
    return demo
