"""Cards and publishing: silver datasets and students as Hub repositories, with honest cards.

:func:`publish` turns a silver dataset folder (from ``adekd label``) or a student folder (from
``adekd train``) into a folder laid out exactly like the Hub repository: the card as ``README.md``,
parquet shards or weights, the code files ``trust_remote_code`` needs. Everything in the card comes
from files the run wrote (the labeling summary, ``metrics.json``, the training config), so the card
cannot claim more than was measured. The folder works offline (``load_dataset(folder)``,
``from_pretrained(folder)``) and is what :func:`push_folder` uploads, in one commit.

The Jinja templates live in ``adekd/hub_cards/`` (package data, so a plain ``pip install`` has them;
``hub_cards/`` at the repository root links there).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import DatasetCard, ModelCard, RepoCard

logger = logging.getLogger(__name__)

RepoType = Literal["dataset", "model"]

TEMPLATES = resources.files("adekd") / "hub_cards"
DATASET_CARD_TEMPLATE = "dataset_card.md"
MODEL_CARD_TEMPLATE = "model_card.md"

LOGIN_HELP = "run `hf auth login` (or set the HF_TOKEN environment variable to a write token)"

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
    import json

    return json.loads((resources.files("datasets.utils.resources") / name).read_text(encoding="utf-8"))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


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
    problems = []
    if isinstance(card, DatasetCard):
        creators = _resource_json("creators.json")["annotations"]
        problems += [
            f"annotations_creators {v!r} not in {creators}"
            for v in _as_list(data.get("annotations_creators"))
            if v not in creators
        ]
        sizes = _resource_json("size_categories.json")
        problems += [
            f"size_categories {v!r} not in {sizes}"
            for v in _as_list(data.get("size_categories"))
            if v not in sizes
        ]
        problems += [
            f"task_categories {v!r} is not a Hub task"
            for v in _as_list(data.get("task_categories"))
            if v not in _known_tasks()
        ]
        from datasets.utils.metadata import MetadataConfigs

        try:
            MetadataConfigs.from_dataset_card_data(parsed.data)
        except ValueError as err:
            problems.append(f"configs: {err}")
    if isinstance(card, ModelCard):
        tag = data.get("pipeline_tag")
        if tag is not None and tag not in _known_tasks():
            problems.append(f"pipeline_tag {tag!r} is not a Hub task")
        for base in _as_list(data.get("base_model")):
            if not is_valid_repo_id(base) or "/" not in base:
                problems.append(f"base_model {base!r} is not a Hub model id (namespace/name)")
    languages = _resource_json("languages.json")
    problems += [
        f"language {v!r} is not an ISO 639 code" for v in _as_list(data.get("language")) if v not in languages
    ]
    if not data.get("license"):
        problems.append("no license")
    if problems:
        raise PublishError("card metadata is not valid for the Hub: " + "; ".join(problems))


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
        if path.is_file():
            content = path.read_bytes()
            hits += [(os.fspath(path), name) for name, needle in needles.items() if needle in content]
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
    (created from main when missing). ``delete_patterns`` removes stale remote files (old shards)
    in the same commit. The token comes from the environment or the cached login and is only sent
    in request headers.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    check_repo_id(repo_id)
    if create_pr and revision not in (None, "main"):
        raise PublishError(
            "--create-pr opens a pull request against main; leave out --revision or --create-pr"
        )
    if not Path(folder, "README.md").is_file():
        raise PublishError(f"{folder}: no README.md card; publish it with `adekd publish` first")
    api = HfApi(token=hub_token())
    try:
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        repo_id = repo_url.repo_id or repo_id
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
        raise PublishError(f"upload to {repo_type} repo {repo_id!r} failed: {err}{hint}") from err
    url = commit.pr_url or commit.commit_url
    logger.info("published %s to %s", folder, url)
    return url


# --- publishing --------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """Where :func:`publish` put the artifact: the local repo folder and, if pushed, the Hub URL."""

    kind: RepoType
    folder: Path
    url: str | None = None


def _write_atomically(output: Path, overwrite: bool, fill: Any) -> None:
    """Let ``fill(staging)`` build the folder, scan it for secrets, then move it to ``output``."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not overwrite:
        raise PublishError(f"{output} exists and is not empty; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
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
    for name in names:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        elif src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)


# --- datasets ----------------------------------------------------------------------------------

DATA_DIR = "data"


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
