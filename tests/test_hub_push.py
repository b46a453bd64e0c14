"""Uploading a published folder: the Hub API calls, recorded at the HTTP transport (no Hub here)."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest
from huggingface_hub.utils import _http

from adekd.hub import PublishError, push_folder

FAKE_HF_TOKEN = "hf_FAKEtokenFORtests0123456789abcdef"


class FakeHub:
    """Answers the Hub endpoints ``create_repo`` and ``upload_folder`` use, and records every request.

    Files are declared ``regular`` at preupload, so their bytes travel inside the commit payload
    (as the Hub does for small files) and the test can check exactly what was committed.
    """

    def __init__(self, existing: dict[str, list[str]] | None = None) -> None:
        self.repos: dict[str, list[str]] = dict(existing or {})
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
            return httpx2.Response(200, json={"url": url})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        parts = path.split("/")  # /api/{type}s/{ns}/{name}/{action}/{revision}
        repo_id, action = "/".join(parts[3:5]), parts[5]
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


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """Route every huggingface_hub request to a :class:`FakeHub`; a fresh HF_HOME holds no cached login."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub = FakeHub()
    _http.set_client_factory(
        lambda: httpx2.Client(transport=httpx2.MockTransport(hub), follow_redirects=True)
    )
    yield hub
    _http.set_client_factory(_http.default_client_factory)


@pytest.fixture
def repo_folder(tmp_path):
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# card\n", encoding="utf-8")
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 fake shard")
    (folder / "adekd_run.json").write_text('{"counts": {}}', encoding="utf-8")
    return folder


def test_push_creates_the_repo_and_commits_every_file_once(fake_hub, repo_folder):
    url = push_folder(repo_folder, "my-org/ade-silver", "dataset", private=True)

    assert fake_hub.calls()[0] == "POST /api/repos/create"
    create = json.loads(
        fake_hub.requests[[r.url.path for r in fake_hub.requests].index("/api/repos/create")].content
    )
    assert create == {
        "name": "ade-silver",
        "organization": "my-org",
        "type": "dataset",
        "visibility": "private",
    }
    assert len(fake_hub.commits) == 1
    assert fake_hub.commits[0]["repo_id"] == "my-org/ade-silver"
    assert fake_hub.committed_files() == {
        p.relative_to(repo_folder).as_posix(): p.read_bytes() for p in repo_folder.rglob("*") if p.is_file()
    }
    assert url == f"https://huggingface.co/my-org/ade-silver/commit/{1:040x}"
    commit_request = next(r for r in fake_hub.requests if "/commit/" in r.url.path)
    assert commit_request.headers["authorization"] == f"Bearer {FAKE_HF_TOKEN}"


def test_push_to_an_existing_repo_updates_it_and_deletes_stale_shards(fake_hub, repo_folder):
    fake_hub.repos["my-org/ade-silver"] = ["README.md", "data/train-00000-of-00002.parquet", "notes.md"]

    push_folder(repo_folder, "my-org/ade-silver", "dataset", delete_patterns=["data/*"])

    assert len(fake_hub.commits) == 1
    assert fake_hub.deleted_files() == ["data/train-00000-of-00002.parquet"]
    assert "data/train-00000-of-00001.parquet" in fake_hub.committed_files()


def test_push_to_a_branch_and_as_a_pull_request(fake_hub, repo_folder):
    push_folder(repo_folder, "my-org/ade-student", "model", revision="v2")
    assert "POST /api/models/my-org/ade-student/branch/v2" in fake_hub.calls()
    assert fake_hub.commits[0]["revision"] == "v2"

    url = push_folder(repo_folder, "my-org/ade-student", "model", create_pr=True)
    assert fake_hub.commits[1]["revision"] == "refs/pr/1"
    assert url == "https://huggingface.co/my-org/ade-student/discussions/1"


@pytest.mark.parametrize("repo_id", ["", "a/b/c", "bad--name", "has space/x", "x" * 97, "org/name.git"])
def test_invalid_repo_id_fails_before_any_request(fake_hub, repo_folder, repo_id):
    with pytest.raises(PublishError, match="invalid repo id"):
        push_folder(repo_folder, repo_id, "model")
    assert fake_hub.requests == []


def test_missing_token_says_how_to_log_in(fake_hub, repo_folder, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(PublishError, match="hf auth login.*HF_TOKEN"):
        push_folder(repo_folder, "my-org/x", "model")
    assert fake_hub.requests == []


def test_refused_token_is_reported_with_the_login_hint(fake_hub, repo_folder, monkeypatch):
    def refuse(request):
        fake_hub.requests.append(request)
        return httpx2.Response(401, json={"error": "Invalid credentials in Authorization header"})

    _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(refuse)))
    with pytest.raises(PublishError, match="token was refused.*hf auth login"):
        push_folder(repo_folder, "my-org/x", "model")
