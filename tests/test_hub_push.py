"""Uploading a published folder: the Hub API calls, recorded at the HTTP transport (no Hub here)."""

from __future__ import annotations

import json

import httpx2
import pytest
from hub_support import FAKE_HF_TOKEN, install_fake_hub
from huggingface_hub.utils import _http

from adekd.hub import PublishError, push_folder


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    yield from install_fake_hub(monkeypatch, tmp_path)


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
    with pytest.raises(
        PublishError, match=r"token was refused.*hf auth login.*repo is written; run the same"
    ):
        push_folder(repo_folder, "my-org/x", "model")


def test_unreachable_hub_is_reported_as_an_upload_failure(fake_hub, repo_folder):
    def unreachable(request):
        raise httpx2.ConnectError("connection refused", request=request)

    _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(unreachable)))
    with pytest.raises(PublishError, match="cannot reach https://huggingface.co .*when online"):
        push_folder(repo_folder, "my-org/x", "model")
