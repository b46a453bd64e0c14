"""Real inputs for the publishing tests: a fake Hub at the HTTP transport, and builders of real silver
datasets (``adekd.teacher.label`` against the teacher tests' local OpenAI-compatible server) and
trained students (``adekd.training.train``) in miniature."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx2
from huggingface_hub.utils import _http

FAKE_HF_TOKEN = "hf_FAKEtokenFORadekdTESTS0123456789abcdef"
FAKE_OPENAI_KEY = "sk-FAKEopenaiKEYforADEKDtests0123456789"
TEACHER_MODEL = "gpt-4o-mini"


class FakeHub:
    """Answers the Hub endpoints ``create_repo`` and ``upload_folder`` use, and records every request.

    Files are declared ``regular`` at preupload, so their bytes travel inside the commit payload
    (as the Hub does for small files) and the test can check exactly what was committed.
    """

    def __init__(self, existing: dict[str, list[str]] | None = None) -> None:
        self.repos: dict[str, list[str]] = dict(existing or {})
        self.private: set[str] = set()  # repos created private (others are public)
        self.requests: list[httpx2.Request] = []
        self.commits: list[dict] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/agent-harnesses":  # huggingface_hub's own telemetry, not ours
            return httpx2.Response(404, json={})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            repo_id = (
                f"{body['organization']}/{body['name']}" if body.get("organization") else f"me/{body['name']}"
            )
            prefix = "" if body.get("type") in (None, "model") else f"{body['type']}s/"
            url = f"https://huggingface.co/{prefix}{repo_id}"
            if repo_id in self.repos:
                return httpx2.Response(409, json={"error": "You already created this repo", "url": url})
            self.repos[repo_id] = []
            if body.get("visibility") == "private":
                self.private.add(repo_id)
            return httpx2.Response(200, json={"url": url})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if path == "/api/whoami-v2":
            return httpx2.Response(200, json={"type": "user", "name": "me", "orgs": []})
        parts = path.split("/")  # /api/{type}s/{ns}/{name}/{action}/{revision}
        repo_id, action = "/".join(parts[3:5]), (parts[5] if len(parts) > 5 else None)
        if action is None and request.method == "GET":  # repo_info
            if repo_id not in self.repos:
                return httpx2.Response(404, json={"error": "Repository not found"})
            return httpx2.Response(
                200, json={"id": repo_id, "private": repo_id in self.private, "sha": "0" * 40}
            )
        if action == "tree":
            return httpx2.Response(
                200,
                json=[
                    {"type": "file", "path": p, "oid": "0" * 40, "size": 1}
                    for p in self.repos.get(repo_id, [])
                ],
            )
        if action == "preupload":
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                },
            )
        if action == "branch":
            return httpx2.Response(200, json={})
        if action == "discussions" and request.method == "POST":
            return httpx2.Response(200, json={"num": 1})
        if action == "discussions":  # the details of pull request 1, as create_pull_request reads them back
            return httpx2.Response(
                200,
                json={
                    "num": 1,
                    "title": "Publish with adekd",
                    "status": "draft",
                    "isPullRequest": True,
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "repo": {"name": repo_id, "type": parts[2][:-1]},
                    "events": [],
                    "changes": {"base": "refs/heads/main"},
                    "filesWithConflicts": [],
                },
            )
        if action == "commit":
            lines = [json.loads(line) for line in request.content.decode().splitlines()]
            self.commits.append({"repo_id": repo_id, "revision": "/".join(parts[6:]), "lines": lines})
            oid = f"{len(self.commits):040x}"
            return httpx2.Response(
                200, json={"commitUrl": f"https://huggingface.co/{repo_id}/commit/{oid}", "commitOid": oid}
            )
        return httpx2.Response(404, json={"error": f"unexpected {request.method} {path}"})

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests if r.url.path != "/api/agent-harnesses"]

    def committed_files(self, commit: int = 0) -> dict[str, bytes]:
        return {
            line["value"]["path"]: base64.b64decode(line["value"]["content"])
            for line in self.commits[commit]["lines"]
            if line["key"] == "file"
        }

    def deleted_files(self, commit: int = 0) -> list[str]:
        return [
            line["value"]["path"] for line in self.commits[commit]["lines"] if line["key"] == "deletedFile"
        ]


def _client(handler) -> httpx2.Client:
    """huggingface_hub's own client (its request hook: offline mode refuses as it does for real), with
    ``handler`` answering in place of the Hub."""
    return httpx2.Client(
        transport=httpx2.MockTransport(handler),
        event_hooks={"request": [_http.hf_request_event_hook]},
        follow_redirects=True,
    )


def install_fake_hub(monkeypatch, tmp_path: Path) -> Iterator[FakeHub]:
    """Route every huggingface_hub request to a new :class:`FakeHub` (body of the ``fake_hub`` fixtures).

    A fresh ``HF_HOME`` holds no cached login, and ``HF_TOKEN`` is a recognisable fake.
    """
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub = FakeHub()
    _http.set_client_factory(lambda: _client(hub))
    try:
        yield hub
    finally:
        _http.set_client_factory(_http.default_client_factory)


class ServingHub:
    """Serves a model or dataset repository for downloads (``from_pretrained``, ``pipeline``,
    ``load_dataset``) and records every request.

    ``commits`` maps a commit hash to the folder holding that commit's files; ``refs`` maps a branch or
    tag of each repository to a commit. Answers as the Hub does: ``repo_info`` at a revision (main when
    none is named) gives its commit, ``tree`` and ``paths-info`` list a commit's files (as
    ``load_dataset`` asks), ``resolve`` gives a file with its commit and etag, an unknown revision or
    file is a 404 with the Hub's error code.
    """

    def __init__(
        self, repo_id: str, commits: dict[str, Path], refs: dict[str, str], repo_type: str = "model"
    ) -> None:
        self.repo_id, self.commits, self.refs = repo_id, commits, dict(refs)
        self.info_path = f"/api/{repo_type}s/{repo_id}"
        self.resolve_path = f"/{'' if repo_type == 'model' else f'{repo_type}s/'}{repo_id}/resolve/"
        self.requests: list[httpx2.Request] = []

    def commit(self, revision: str) -> str | None:
        return revision if revision in self.commits else self.refs.get(revision)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path, info = request.url.path, self.info_path
        if path == info or path.startswith(f"{info}/revision/"):  # no revision: main
            commit = self.commit(path.removeprefix(f"{info}/revision/") if path != info else "main")
            if commit is None:
                return httpx2.Response(
                    404, headers={"X-Error-Code": "RevisionNotFound"}, json={"error": "Invalid rev id"}
                )
            files = [{"rfilename": f.name} for f in sorted(self.commits[commit].iterdir())]
            return httpx2.Response(200, json={"id": self.repo_id, "sha": commit, "siblings": files})
        if path.startswith((f"{info}/tree/", f"{info}/paths-info/")):
            action, revision, folder = (path.removeprefix(f"{info}/").split("/", 2) + [""])[:3]
            commit = self.commit(revision)
            if commit is None:
                return httpx2.Response(404, headers={"X-Error-Code": "RevisionNotFound"})
            if action == "tree":
                if not (self.commits[commit] / folder).is_dir():
                    return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"})
                recursive = request.url.params.get("recursive", "").lower() == "true"
                return httpx2.Response(200, json=self._listing(commit, folder, recursive))
            asked = parse_qs(request.content.decode()).get("paths", [])
            found = [name for name in asked if (self.commits[commit] / name).exists()]
            return httpx2.Response(200, json=[self._entry(commit, name) for name in found])
        if path.startswith(self.resolve_path):
            revision, _, name = path.removeprefix(self.resolve_path).partition("/")
            commit = self.commit(revision)
            if commit is None:
                return httpx2.Response(404, headers={"X-Error-Code": "RevisionNotFound"})
            file = self.commits[commit] / name
            if not file.is_file():
                return httpx2.Response(
                    404, headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}
                )
            body = file.read_bytes()
            headers = {
                "X-Repo-Commit": commit,
                "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                "Content-Length": str(len(body)),
            }
            return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else body)
        return httpx2.Response(404, json={"error": f"unexpected {request.method} {path}"})

    def _entry(self, commit: str, name: str) -> dict:
        """A ``tree`` / ``paths-info`` entry: a file with its git blob id and size, or a folder."""
        path = self.commits[commit] / name
        if path.is_dir():
            return {"type": "directory", "path": name, "oid": "0" * 40}
        body = path.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        return {"type": "file", "path": name, "oid": blob, "size": len(body)}

    def _listing(self, commit: str, folder: str, recursive: bool) -> list[dict]:
        root = self.commits[commit]
        found = (root / folder).rglob("*") if recursive else (root / folder).iterdir()
        return [self._entry(commit, path.relative_to(root).as_posix()) for path in sorted(found)]

    def fetched_revisions(self) -> set[str]:
        """The revisions file URLs named, as they were sent (a branch, a tag or a commit)."""
        resolve = self.resolve_path
        paths = [r.url.path for r in self.requests]
        return {path.removeprefix(resolve).split("/")[0] for path in paths if path.startswith(resolve)}

    def resolved_commits(self) -> set[str]:
        """The commits whose files were fetched (a branch or tag in a URL: the commit it then pointed to)."""
        return {self.commit(revision) for revision in self.fetched_revisions()} - {None}


def install_serving_hub(monkeypatch, tmp_path: Path, hub: ServingHub) -> Iterator[ServingHub]:
    """Route every huggingface_hub request to ``hub``, with an empty download cache in ``tmp_path``."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", tmp_path / "datasets_cache")  # read at import
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    _http.set_client_factory(lambda: _client(hub))
    try:
        yield hub
    finally:
        _http.set_client_factory(_http.default_client_factory)


# --- a teacher ------------------------------------------------------------------------------------


def gold_answer(record: dict) -> dict:
    """The answer a perfect teacher gives for ``record``, in the teacher's answer schema."""
    return {
        "drugs": [
            {"drug": drug["text"], "adverse_events": [a["text"] for a in record["ades"] if a["drug"] == i]}
            for i, drug in enumerate(record["drugs"])
        ]
    }


# --- artifacts ------------------------------------------------------------------------------------


def build_silver(folder: Path, gold: list[dict], unanswered: int = 1) -> Path:
    """Label ``gold``'s sentences (plus ``unanswered`` the teacher fails on) with the real labeling run.

    The teacher answers each gold sentence perfectly (F1 1.0 against ``gold``) and the others with
    text that is not JSON (a failure). Needs ``OPENAI_API_KEY`` set (the tests set a fake).
    """
    from teacher_server import FakeOpenAIServer

    from adekd.teacher.run import LabelConfig, label

    inputs = [{"id": r["id"], "text": r["text"]} for r in gold]
    inputs += [{"id": f"odd{i}", "text": f"Nothing happened on day {i}."} for i in range(unanswered)]
    answers = {r["text"]: json.dumps(gold_answer(r)) for r in gold}
    with FakeOpenAIServer(
        lambda sentence: answers.get(sentence, "I cannot answer that."), (TEACHER_MODEL,)
    ) as server:
        config = LabelConfig(
            teacher="openai",
            model=TEACHER_MODEL,
            base_url=server.url,
            cache=str(folder.parent / f"{folder.name}-cache.sqlite"),
            progress=False,
        )
        result = label(inputs, config)
    result.save(folder)
    return folder


def build_student(folder: Path, work: Path, test: bool = True, lora: bool = False) -> Path:
    """Train a tiny student for two steps with the real training loop (``test``: also score a test set)."""
    from student_support import tiny_encoder
    from training_support import write_records

    from adekd.training.config import TrainingConfig
    from adekd.training.loop import train

    work.mkdir(parents=True, exist_ok=True)
    encoder = tiny_encoder(work / "encoder")
    write_records(work / "train.jsonl", 24)
    if test:
        write_records(work / "test.jsonl", 6, seed=1, prefix="t")
    config = TrainingConfig(
        train=str(work / "train.jsonl"),
        test=str(work / "test.jsonl") if test else None,
        output_dir=str(folder),
        encoder=str(encoder),
        max_steps=2,
        batch_size=8,
        max_length=64,
        lora=lora,
        lora_target_modules=["query", "value"],
    )
    train(config)
    return folder


def published_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
