"""A local HTTP server speaking the Gemini Developer API's REST wire format, for the real google-genai client.

Started by a test on a free port of 127.0.0.1 (``with GeminiServer() as server``); the client is pointed at it
with ``HttpOptions(base_url=server.url)`` (docs/triage.md "Gemini"; ../shared/docs/gemini-notes.md). What it
answers is scripted per test:

- ``generateContent``: each request is given to ``server.respond`` (a function of the request's JSON body,
  returning a ``Reply``), unless replies were queued with ``server.queue(...)``, which are used first, one per
  request. ``Reply.json`` is a normal answer (structured JSON text and ``usageMetadata``), ``Reply.text`` any
  text (truncated JSON), ``Reply.error`` an HTTP error in Google's error shape (429, 5xx).
- the Files API as the client speaks it: ``POST /upload/v1/files`` starts a resumable upload and answers an
  ``x-goog-upload-url``; the ``upload, finalize`` command there stores the bytes and answers the file
  (``PROCESSING``); ``GET /v1/files/<id>`` walks the file through ``server.file_states`` (default:
  ``PROCESSING`` once, then ``ACTIVE``; ``["PROCESSING"]`` stays there forever); ``DELETE /v1/files/<id>``
  removes the file (``server.deleted`` lists the names deleted, in order).

- image answers (an image model's edit): ``Reply.image(data, text=...)`` answers an inline image part (and a
  text part); ``Reply.text`` alone is an image model's answer with no image.
- Vertex AI's Imagen ``:predict`` (``models.edit_image`` of a client made with ``vertexai=True`` and this
  server's URL): each request is given to ``server.predict`` unless ``server.queue_predict(...)`` queued
  replies; ``Reply.predictions(data)`` is an edited image.

Every request is recorded (``server.requests``) with its headers, so a test can see what the client sent.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def text(text: str, *, prompt_tokens: int = 100, output_tokens: int = 20) -> Reply:
        """A 200 ``generateContent`` answer whose one text part is ``text`` (any text: truncated JSON too)."""
        body = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": "local-test",
        }
        return Reply(200, json.dumps(body).encode())

    @staticmethod
    def json(value: Any, *, prompt_tokens: int = 100, output_tokens: int = 20) -> Reply:
        """A normal answer: ``value`` as the structured-output JSON text, with its token counts."""
        return Reply.text(json.dumps(value), prompt_tokens=prompt_tokens, output_tokens=output_tokens)

    @staticmethod
    def image(
        data: bytes, *, mime_type: str = "image/png", text: str = "", prompt_tokens: int = 1400
    ) -> Reply:
        """An image model's answer: ``text`` (when given) and one inline image part holding ``data``."""
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        parts.append({"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode()}})
        body = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": 1290,
                "totalTokenCount": prompt_tokens + 1290,
            },
            "modelVersion": "local-test",
        }
        return Reply(200, json.dumps(body).encode())

    @staticmethod
    def predictions(*images: bytes, mime_type: str = "image/png") -> Reply:
        """Vertex AI's answer to an Imagen ``:predict`` (an edit): one prediction per image."""
        body = {
            "predictions": [
                {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime_type}
                for data in images
            ]
        }
        return Reply(200, json.dumps(body).encode())

    @staticmethod
    def error(code: int, message: str = "scripted error") -> Reply:
        """An error in Google's shape: ``{"error": {"code", "message", "status"}}``."""
        status = {429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT", 503: "UNAVAILABLE"}.get(
            code, "INTERNAL"
        )
        body = {"error": {"code": code, "message": message, "status": status}}
        return Reply(code, json.dumps(body).encode())


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def prompt_text(body: dict[str, Any]) -> str:
    """Every text part of a ``generateContent`` request body, joined (what a responder reads ids from)."""
    return "\n".join(
        part["text"] for content in body.get("contents", []) for part in content["parts"] if "text" in part
    )


def inline_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline data parts of a ``generateContent`` request (images sent with it)."""
    return [
        part["inlineData"]
        for content in body.get("contents", [])
        for part in content["parts"]
        if "inlineData" in part
    ]


def file_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The file parts (Files API uploads referred to by URI) of a ``generateContent`` request."""
    return [
        part["fileData"]
        for content in body.get("contents", [])
        for part in content["parts"]
        if "fileData" in part
    ]


@dataclass
class GeminiServer:
    """The server; see the module's doc. A context manager: started on enter, stopped on exit."""

    respond: Callable[[dict[str, Any]], Reply] = field(default=lambda body: Reply.json({}))
    file_states: Sequence[str] = ("PROCESSING", "ACTIVE")
    predict: Callable[[dict[str, Any]], Reply] = field(default=lambda body: Reply.error(400, "no predict"))
    predict_replies: deque[Reply] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    replies: deque[Reply] = field(default_factory=deque)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    _gets: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next ``generateContent`` requests with these, in order (then ``respond`` again)."""
        self.replies.extend(replies)

    def queue_predict(self, *replies: Reply) -> None:
        """Answer the next Imagen ``:predict`` requests with these, in order (then ``predict`` again)."""
        self.predict_replies.extend(replies)

    def predict_requests(self) -> list[Request]:
        """The Imagen ``:predict`` requests received so far."""
        return [r for r in self.requests if r.path.split("?", 1)[0].endswith(":predict")]

    def generate_requests(self) -> list[Request]:
        """The ``generateContent`` requests received so far."""
        return [r for r in self.requests if r.path.endswith(":generateContent")]

    def __enter__(self) -> GeminiServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
                pass

            def _read(self) -> Request:
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size) if size else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(req)
                return req

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def do_POST(self) -> None:
                req = self._read()
                self._send(server.handle(req))

            def do_GET(self) -> None:
                req = self._read()
                self._send(server.handle(req))

            def do_DELETE(self) -> None:
                req = self._read()
                self._send(server.handle(req))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="gemini-server", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # ------------------------------------------------------------------- routing
    def handle(self, req: Request) -> Reply:
        """The answer to one request (called on the server's threads)."""
        path = req.path.split("?", 1)[0]
        if req.method == "POST" and path.endswith(":generateContent"):
            with self._lock:
                scripted = self.replies.popleft() if self.replies else None
            return scripted if scripted is not None else self.respond(req.json())
        if req.method == "POST" and path.endswith(":predict"):
            with self._lock:
                queued = self.predict_replies.popleft() if self.predict_replies else None
            return queued if queued is not None else self.predict(req.json())
        if req.method == "POST" and path.startswith("/upload/") and path.endswith("/files"):
            return self._start_upload(req)
        if req.method == "POST" and path.startswith("/upload-session/"):
            return self._finish_upload(req, path.rsplit("/", 1)[1])
        if req.method == "GET" and "/files/" in path:
            return self._get_file(path.rsplit("/", 1)[1])
        if req.method == "DELETE" and "/files/" in path:
            return self._delete_file(path.rsplit("/", 1)[1])
        return Reply.error(404, f"no route for {req.method} {path}")

    def _start_upload(self, req: Request) -> Reply:
        meta = req.json().get("file", {}) if req.body else {}
        with self._lock:
            file_id = f"f{len(self.files) + len(self.deleted) + 1:04d}"  # ids never reused
            self.files[file_id] = {
                "name": f"files/{file_id}",
                "displayName": meta.get("displayName", file_id),
                "mimeType": req.headers.get("x-goog-upload-header-content-type", meta.get("mimeType", "")),
                "sizeBytes": req.headers.get("x-goog-upload-header-content-length", "0"),
                "uri": f"{self.url}/v1/files/{file_id}",
                "state": self.file_states[0],
            }
        return Reply(200, b"{}", (("x-goog-upload-url", f"{self.url}/upload-session/{file_id}"),))

    def _finish_upload(self, req: Request, file_id: str) -> Reply:
        command = req.headers.get("x-goog-upload-command", "")
        if file_id not in self.files:
            return Reply.error(404, f"no upload {file_id}")
        status = "final" if "finalize" in command else "active"
        body = json.dumps({"file": self.files[file_id]}).encode() if status == "final" else b"{}"
        return Reply(200, body, (("x-goog-upload-status", status),))

    def _get_file(self, file_id: str) -> Reply:
        with self._lock:
            if file_id not in self.files:
                return Reply.error(404, f"files/{file_id} not found")
            n = self._gets[file_id] = self._gets.get(file_id, 0) + 1
            state = self.file_states[min(n, len(self.file_states) - 1)]
            self.files[file_id]["state"] = state
            return Reply(200, json.dumps(self.files[file_id]).encode())

    def _delete_file(self, file_id: str) -> Reply:
        with self._lock:
            if self.files.pop(file_id, None) is None:
                return Reply.error(404, f"files/{file_id} not found")
            self.deleted.append(f"files/{file_id}")
            return Reply(200, b"{}")
