"""The Space app as users start it, for the demo tests: a real server process on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vllm_server import free_port, stop_process_group

REPO = Path(__file__).resolve().parents[1]
SPACE_APP = REPO / "spaces" / "ade-demo" / "app.py"
ADEKD = Path(sys.executable).with_name("adekd")


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/config", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def serving(
    command: Sequence[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 180.0,
) -> Iterator[str]:
    """Start ``command`` (serving on ``port``), wait for Gradio to answer ``/config``, yield the URL."""
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **(env or {})}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    try:
        while not _serving(url):
            if process.poll() is not None or time.monotonic() - started > timeout_s:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
                raise RuntimeError(
                    f"{' '.join(command)} did not serve {url} (exit {process.poll()}):\n{tail}"
                )
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process, grace_s=10)


@contextmanager
def space_app(model: Path, log_path: Path) -> Iterator[str]:
    """``python spaces/ade-demo/app.py`` with ``ADEKD_MODEL=model``, the Space's own entry point."""
    port = free_port()
    env = {"ADEKD_MODEL": str(model), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    with serving([sys.executable, str(SPACE_APP)], port, log_path, env) as url:
        yield url


@contextmanager
def demo_command(model: Path, log_path: Path) -> Iterator[str]:
    """``adekd demo --model DIR --port N``, the installed command."""
    port = free_port()
    with serving([str(ADEKD), "demo", "--model", str(model), "--port", str(port)], port, log_path) as url:
        yield url
