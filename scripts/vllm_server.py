"""Start vLLM's OpenAI-compatible server (CPU build, in .venv-vllm) on the embedded SmolLM2 teacher.

The vLLM teacher tests (fixture ``vllm_server`` in tests/conftest.py) and benchmarks/labeling.py use
:func:`serve`; run this file to label against a real server by hand::

    .venv/bin/python scripts/vllm_server.py --port 8000     # Ctrl-C stops it
    .venv/bin/adekd label --teacher vllm --base-url http://127.0.0.1:8000/v1 --input IN --output DIR

It creates the environment (scripts/vllm_env.sh) and exports the packaged GGUF to a safetensors
folder (adekd.teacher.smollm2) on first use; both are cached.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from adekd.teacher.smollm2 import MODEL_NAME, export_safetensors

logger = logging.getLogger("vllm_server")

REPO = Path(__file__).resolve().parents[1]
VLLM_ENV_SCRIPT = REPO / "scripts" / "vllm_env.sh"
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
MODEL_DIR = REPO / ".cache" / "smollm2-135m-instruct"


_RECEIVED_REQUEST = re.compile(r"Received request \S+: params: (.*), lora_request: ")


class ServerError(RuntimeError):
    """The server could not be set up or did not come up; the message carries its log tail."""


@dataclass
class ServerConfig:
    """How to start the server; the defaults serve SmolLM2-135M-Instruct on a free loopback port."""

    model_dir: Path = MODEL_DIR
    served_model_name: str = MODEL_NAME
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    max_model_len: int = 2048
    kv_cache_gib: int = 2  # VLLM_CPU_KVCACHE_SPACE: the KV cache vLLM's CPU backend reserves
    startup_timeout_s: float = 300.0
    log_requests: bool = True  # each request's sampling parameters in the log (see RunningServer)
    log_path: Path = REPO / ".cache" / "vllm-server.log"
    extra_args: list[str] = field(default_factory=list)


@dataclass
class RunningServer:
    """A server that answers ``/v1/models``; ``base_url`` is what the ``openai`` client takes."""

    base_url: str
    model: str
    log_path: Path
    startup_s: float
    process: subprocess.Popen

    def received_requests(self) -> list[str]:
        """The sampling parameters of every request the server has accepted, oldest first.

        Read from the server log (``ServerConfig.log_requests``); a request sent with a JSON schema
        shows ``structured_outputs=StructuredOutputsParams(json=...)``. Counting them tells how many
        requests a client really sent.
        """
        return _RECEIVED_REQUEST.findall(self.log_path.read_text(errors="replace"))


def ensure_environment() -> Path:
    """Create .venv-vllm if needed (cheap when it exists) and return its python."""
    result = subprocess.run(["bash", str(VLLM_ENV_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ServerError(f"{VLLM_ENV_SCRIPT} failed ({result.returncode}):\n{_tail(result.stderr)}")
    return VLLM_PYTHON


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _log_tail(path: Path) -> str:
    return _tail(path.read_text(errors="replace")) if path.is_file() else "(no log)"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop_process_group(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """Stop a process started with ``start_new_session=True`` and every process it spawned (a vLLM
    server's engine workers, a demo server), so none outlives the test or command that started it."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def serve(config: ServerConfig | None = None) -> Iterator[RunningServer]:
    """Start the server, wait until it lists its model, yield it, and stop it on exit."""
    config = config or ServerConfig()
    python = ensure_environment()
    model_dir = export_safetensors(config.model_dir)
    port = config.port or free_port(config.host)
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir),
        "--served-model-name", config.served_model_name,
        "--host", config.host,
        "--port", str(port),
        "--dtype", "bfloat16",
        "--max-model-len", str(config.max_model_len),
        "--enforce-eager",
        *(["--enable-log-requests"] if config.log_requests else []),
        *config.extra_args,
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(config.kv_cache_gib), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # the server must see only .venv-vllm's packages
    config.log_path.parent.mkdir(parents=True, exist_ok=True)
    base_url = f"http://{config.host}:{port}/v1"
    logger.info("starting vLLM on %s (log: %s)", base_url, config.log_path)
    started = time.monotonic()
    with open(config.log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        while not _answers(f"{base_url}/models"):
            if process.poll() is not None:
                raise ServerError(
                    f"vLLM server exited with {process.returncode} before answering; "
                    f"log {config.log_path}:\n{_log_tail(config.log_path)}"
                )
            if time.monotonic() - started > config.startup_timeout_s:
                raise ServerError(
                    f"vLLM server did not answer {base_url}/models within {config.startup_timeout_s:.0f} s; "
                    f"log {config.log_path}:\n{_log_tail(config.log_path)}"
                )
            time.sleep(1)
        startup_s = time.monotonic() - started
        logger.info("vLLM answers after %.1f s", startup_s)
        yield RunningServer(base_url, config.served_model_name, config.log_path, startup_s, process)
    finally:
        stop_process_group(process)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the embedded SmolLM2 teacher with vLLM (CPU).")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-model-len", type=int, default=ServerConfig.max_model_len)
    parser.add_argument("--log", type=Path, default=ServerConfig.log_path, help="server log file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(port=args.port, max_model_len=args.max_model_len, log_path=args.log)
    # SIGTERM (and SIGINT, which a background job ignores) must unwind serve() so the server stops too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    with serve(config) as server:
        print(f"serving {server.model} at {server.base_url} (log: {server.log_path}); Ctrl-C stops it")
        server.process.wait()


if __name__ == "__main__":
    main()
