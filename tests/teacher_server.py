"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the teacher tests, with scripted faults.

It speaks the parts of the API the teacher uses (``GET /v1/models``, ``POST /v1/chat/completions``
and the Batch API's files and batches endpoints), records every request it receives and every
answer it finished sending, and can be told to misbehave for a given sentence: an HTTP error with
headers, a delay past the client's timeout, a broken body, empty or truncated content. It can also
hold every request after the first N, which lets a test kill a client while requests are in flight.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DRUGS = ("amoxicillin", "aspirin", "ibuprofen", "methotrexate", "warfarin", "lithium")
EVENTS = ("rash", "hepatitis", "bleeding", "tremor", "nausea", "pancytopenia")


def lexicon_answer(sentence: str) -> str:
    """A deterministic stand-in for a model: each known drug of the sentence caused each known event."""
    lowered = sentence.lower()
    events = [event for event in EVENTS if event in lowered]
    drugs = [{"drug": drug, "adverse_events": events} for drug in DRUGS if drug in lowered]
    return json.dumps({"drugs": drugs})


@dataclass
class Fault:
    """How to answer one request instead of the normal answer (fields left at None are normal)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content: str | None = None
    finish_reason: str = "stop"
    delay: float = 0.0


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as server:``; point clients at ``server.url``."""

    def __init__(
        self,
        answer: Callable[[str], str] = lexicon_answer,
        models: tuple[str, ...] | None = ("teacher",),
        list_models: bool = True,
    ) -> None:
        self.answer = answer
        self.models = models
        self.list_models = list_models
        self.received: list[dict[str, Any]] = []
        self.answered: list[str] = []
        self.faults: dict[str, list[Fault]] = {}
        self.hold_after: int | None = None
        self.admitted = 0
        self.hold_batches = False
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_lines: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def fault(self, sentence: str, *faults: Fault) -> None:
        """Answer the next requests for ``sentence`` with ``faults``, in order, then normally."""
        self.faults.setdefault(sentence, []).extend(faults)

    def chat_requests(self, sentence: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.received
            if r["path"].endswith("/chat/completions") and (sentence is None or r["sentence"] == sentence)
        ]

    def request_counts(self) -> Counter[str]:
        return Counter(r["sentence"] for r in self.chat_requests())

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.answered.clear()

    # --- request handling --------------------------------------------------------------------

    def _next_fault(self, sentence: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(sentence)
            return queue.pop(0) if queue else None

    def completion(self, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        sentence = sentence_of(body)
        content = fault.content if fault and fault.content is not None else self.answer(sentence)
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": fault.finish_reason if fault else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": len(content) // 4 + 1,
                "total_tokens": prompt_chars // 4 + len(content) // 4 + 1,
            },
        }

    def _run_batch(self, batch: dict[str, Any]) -> None:
        lines = [
            json.loads(line) for line in self.files[batch["input_file_id"]].decode().splitlines() if line
        ]
        output = []
        for line in lines:
            self.batch_lines.append(line)
            sentence = sentence_of(line["body"])
            fault = self._next_fault(sentence)
            if fault and fault.status != 200:
                response = {"status_code": fault.status, "body": {"error": {"message": "injected fault"}}}
            else:
                response = {"status_code": 200, "body": self.completion(line["body"], fault)}
            output.append(
                {
                    "id": f"batch_req_{next(self._ids)}",
                    "custom_id": line["custom_id"],
                    "response": response,
                    "error": None,
                }
            )
        file_id = f"file-out-{next(self._ids)}"
        self.files[file_id] = "".join(json.dumps(row) + "\n" for row in output).encode()
        batch.update(status="completed", output_file_id=file_id)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> bool:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                    return True
                except OSError:  # the client gave up (timeout or killed)
                    return False

            def do_GET(self) -> None:
                server.received.append({"path": self.path, "headers": _lower(self.headers), "sentence": None})
                if self.path == "/v1/models" and server.list_models:
                    data = [
                        {"id": m, "object": "model", "created": 0, "owned_by": "t"}
                        for m in server.models or ()
                    ]
                    self._send(200, {"object": "list", "data": data})
                elif match := re.fullmatch(r"/v1/batches/([\w-]+)", self.path):
                    batch = server.batches[match.group(1)]
                    if batch["status"] == "validating":
                        batch["status"] = "in_progress"
                    elif batch["status"] == "in_progress" and not server.hold_batches:
                        server._run_batch(batch)
                    self._send(200, batch)
                elif match := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path):
                    self._send(200, server.files[match.group(1)])
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/files":
                    file_id = f"file-in-{next(server._ids)}"
                    server.files[file_id] = _multipart_file(self.headers["Content-Type"], raw)
                    server.received.append(
                        {"path": self.path, "headers": _lower(self.headers), "sentence": None}
                    )
                    self._send(
                        200,
                        {
                            "id": file_id,
                            "object": "file",
                            "bytes": len(raw),
                            "created_at": 0,
                            "filename": "batch.jsonl",
                            "purpose": "batch",
                            "status": "processed",
                        },
                    )
                    return
                body = json.loads(raw)
                if self.path == "/v1/batches":
                    batch_id = f"batch_{next(server._ids)}"
                    server.batches[batch_id] = {
                        "id": batch_id,
                        "object": "batch",
                        "endpoint": body["endpoint"],
                        "errors": None,
                        "input_file_id": body["input_file_id"],
                        "completion_window": body["completion_window"],
                        "status": "validating",
                        "output_file_id": None,
                        "error_file_id": None,
                        "created_at": 0,
                        "request_counts": {"total": 0, "completed": 0, "failed": 0},
                    }
                    server.received.append(
                        {"path": self.path, "headers": _lower(self.headers), "body": body, "sentence": None}
                    )
                    self._send(200, server.batches[batch_id])
                    return
                sentence = sentence_of(body)
                server.received.append(
                    {"path": self.path, "headers": _lower(self.headers), "body": body, "sentence": sentence}
                )
                with server._lock:  # admit exactly hold_after requests, then hold the rest
                    held = server.hold_after is not None and server.admitted >= server.hold_after
                    server.admitted += not held
                if held:
                    server.release.wait(60)
                    return
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    self._answer_chat(body, sentence)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer_chat(self, body: dict[str, Any], sentence: str) -> None:
                if body.get("model") not in (server.models or (body.get("model"),)):
                    self._send(
                        404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
                    )
                    return
                fault = server._next_fault(sentence)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.status != 200:
                    self._send(fault.status, {"error": {"message": "injected fault"}}, fault.headers)
                    return
                payload = fault.body if fault and fault.body is not None else server.completion(body, fault)
                if self._send(200, payload, fault.headers if fault else None):
                    with server._lock:
                        server.answered.append(sentence)

        return Handler


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def sentence_of(body: dict[str, Any]) -> str:
    """The sentence a chat request asks about (its last user message, without the template's prefix)."""
    user = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return user[-1].removeprefix("Sentence: ") if user else ""


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_filename():
            return part.get_payload(decode=True)
    raise ValueError("no file in the upload")
