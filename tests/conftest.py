"""Shared fixtures. Real corpora are read from ../shared/data beside the repo (never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ADEKD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real corpora folder; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_DATA} (set ADEKD_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory):
    """A real vLLM server (CPU) serving SmolLM2-135M-Instruct on 127.0.0.1 for the whole session.

    First use creates .venv-vllm (about 1.5 min) and exports the packaged GGUF; the server then takes
    about 30-60 s to answer. Yields a ``RunningServer`` (``base_url``, ``model``, ``log_path``).
    """
    from vllm_server import ServerConfig, serve

    with serve(ServerConfig(log_path=tmp_path_factory.mktemp("vllm") / "server.log")) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_trained_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny drug-centric student overfit on ``student_support.RECORDS`` (about 10 s once)."""
    from student_support import trained_student

    return trained_student(tmp_path_factory.mktemp("tiny-trained-student"))


@pytest.fixture(scope="session")
def demo_server(tiny_trained_student: Path, tmp_path_factory: pytest.TempPathFactory):
    """URL of ``python spaces/ade-demo/app.py`` serving ``tiny_trained_student`` on a free 127.0.0.1 port."""
    from demo_support import space_app

    with space_app(tiny_trained_student, tmp_path_factory.mktemp("demo-server") / "server.log") as url:
        yield url
