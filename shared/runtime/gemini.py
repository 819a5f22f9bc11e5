"""Gemini from Python, for every service that calls it: the key, the client, retries, structured output.

One ``GeminiCaller`` per process holds the google-genai client (the key from the settings or from SSM, read
once; never logged). Every request goes through it: the client's own ``HttpRetryOptions`` for 429, 5xx,
timeouts and connection errors (exponential with jitter, within ``SHOEBOX_AI_RETRY_ATTEMPTS``); tenacity for
what the client does not retry, an answer that is not what was asked for (``Unreadable``: truncated JSON, an
inconsistent answer, no image), asked again within the same attempts and then a ``ProviderError``; structured
output whose JSON schema is generated from the msgspec type the answer is decoded into (``response_schema``);
an optional per-job ``Meter`` checked before and fed after; a span with the request's token counts.

Two ways in, one client: ``generate`` / ``upload_video`` (``upload_file`` / ``delete_file``) are async
(selection and the video provider run on the event loop);
``generate_sync`` / ``ask_sync`` use the client's synchronous half, for code that runs in a worker thread
(the enhance pipeline works on pyvips images in ``anyio.to_thread.run_sync``): a blocking call there is what
the thread is for, it needs no event loop (so it works the same from a plain test), and no async client is
carried across loops. The key's SSM read, when the synchronous side comes first, runs once in a short loop
of its own on that thread.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import msgspec
import tenacity
from aiobotocore.session import get_session
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from opentelemetry import trace

from shared.runtime import telemetry
from shared.runtime.ai import Meter, ProviderError, Unreadable
from shared.runtime.aws import client_kwargs
from shared.runtime.config import AiSettings, Settings

log = logging.getLogger("shoebox.gemini")

T = TypeVar("T")

#: JSON Schema keywords Gemini's structured output takes (the OpenAPI subset); the rest are dropped
SCHEMA_KEYS = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "description",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "format",
        "anyOf",
        "nullable",
        "propertyOrdering",
    }
)


# --------------------------------------------------------------------------- schema
def response_schema(t: Any) -> dict[str, Any]:
    """The JSON schema of msgspec type ``t`` in the subset Gemini's structured output takes: references
    inlined, unsupported keywords dropped, properties in declaration order (``propertyOrdering``)."""
    raw = msgspec.json.schema(t)
    defs: dict[str, Any] = raw.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[1]])
        out = {k: walk(v) for k, v in node.items() if k in SCHEMA_KEYS and k != "properties"}
        if "properties" in node:
            out["properties"] = {name: walk(p) for name, p in node["properties"].items()}
            out["propertyOrdering"] = list(node["properties"])
        return out

    schema: dict[str, Any] = walk({k: v for k, v in raw.items() if k != "$defs"})
    return schema


def structured_config(system: str, answer: Any) -> types.GenerateContentConfig:
    """A request for JSON shaped like msgspec type ``answer``, with ``system`` as its instruction."""
    return types.GenerateContentConfig(
        system_instruction=system,
        response_mime_type="application/json",
        response_json_schema=response_schema(answer),
        temperature=0.2,
    )


def decode(response: types.GenerateContentResponse, answer: type[T], what: str) -> T:
    """The answer's text decoded into ``answer``; ``Unreadable`` when it is not that JSON."""
    text = "".join(p.text or "" for p in answer_parts(response) if not p.thought)
    try:
        return msgspec.json.decode(text.encode(), type=answer)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise Unreadable(f"the answer to {what} is not the JSON asked for: {exc}") from exc


def answer_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    """The parts of the answer's first candidate (none when it has no content: a blocked answer)."""
    candidates = response.candidates or []
    content = candidates[0].content if candidates else None
    return list(content.parts or []) if content is not None else []


# --------------------------------------------------------------------------- the key and the client
async def read_parameter(ai: AiSettings, ssm_read: Callable[[str], Awaitable[str]] | None) -> str:
    """The key: the setting, else the SSM parameter (through ``ssm_read``), else empty."""
    if ai.gemini_api_key.strip():
        return ai.gemini_api_key.strip()
    if ai.gemini_api_key_parameter and ssm_read is not None:
        return (await ssm_read(ai.gemini_api_key_parameter)).strip()
    return ""


def http_options(ai: AiSettings, base_url: str) -> types.HttpOptions:
    """The client's HTTP options: ``base_url`` (empty: Google's), the request timeout, and the client's own
    retries of 429, 5xx, timeouts and connection errors."""
    return types.HttpOptions(
        base_url=base_url or None,
        timeout=int(ai.request_timeout_s * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=ai.retry_attempts,
            initial_delay=ai.retry_initial_delay_s,
            max_delay=max(ai.retry_initial_delay_s, 60.0),
            jitter=1.0,
        ),
    )


class GeminiCaller:
    """The client and how every request is made (see the module's doc). The key is resolved once, on the
    first request, and kept only inside the client."""

    def __init__(
        self,
        ai: AiSettings,
        *,
        key: Callable[[], Awaitable[str]],
        file_poll_s: float = 5.0,
    ) -> None:
        self.ai = ai
        self._key = key
        self._client: genai.Client | None = None
        self._lock = threading.Lock()  # worker threads may ask for the client at once
        self.file_poll_s = min(file_poll_s, ai.file_wait_s)

    def __repr__(self) -> str:  # the settings' repr would show the key
        return f"GeminiCaller(base_url={self.ai.gemini_base_url or 'google'!r})"

    def _make(self, key: str) -> genai.Client:
        if not key:
            raise ProviderError("no Gemini API key is configured")
        return genai.Client(api_key=key, http_options=http_options(self.ai, self.ai.gemini_base_url))

    async def client(self) -> genai.Client:
        """The client, made on first use (the SSM read, when there is one, happens here, once)."""
        if self._client is None:
            made = self._make(await self._key())
            with self._lock:
                self._client = self._client or made
        return self._client

    def client_sync(self) -> genai.Client:
        """The client, from synchronous code on a thread with no running event loop (a worker thread, a
        plain test); the key's first read runs in a short event loop of its own."""
        with self._lock:
            if self._client is None:
                self._client = self._make(anyio.run(self._key))
            return self._client

    # ----------------------------------------------------------------------- shared by both sides
    def reasking(self) -> dict[str, Any]:
        """tenacity's arguments for asking again after an ``Unreadable`` answer, within the attempts."""
        return {
            "stop": tenacity.stop_after_attempt(self.ai.retry_attempts),
            "wait": tenacity.wait_random_exponential(
                multiplier=self.ai.retry_initial_delay_s, max=max(self.ai.retry_initial_delay_s, 30.0)
            ),
            "retry": tenacity.retry_if_exception_type(Unreadable),
            "reraise": True,
        }

    def refused(self, exc: genai_errors.APIError, what: str) -> ProviderError:
        """The error an API error becomes once the client's own retries are spent."""
        return ProviderError(
            f"Gemini answered {exc.code} {exc.status or ''} to {what} after "
            f"{self.ai.retry_attempts} attempt(s)".replace("  ", " ")
        )

    def gave_up(self, exc: Unreadable) -> ProviderError:
        """The error the last unreadable answer becomes."""
        return ProviderError(f"{exc} ({self.ai.retry_attempts} attempt(s))")

    @staticmethod
    def count(response: types.GenerateContentResponse, span: trace.Span, meter: Meter | None) -> None:
        """The answer's token counts, on the span and into the job's meter."""
        usage = response.usage_metadata
        prompt = (usage.prompt_token_count or 0) if usage else 0
        output = (usage.candidates_token_count or 0) if usage else 0
        total = (usage.total_token_count or 0) if usage else 0
        if meter is not None:
            meter.add(prompt, output, total)
        span.set_attribute("gen_ai.usage.input_tokens", prompt)
        span.set_attribute("gen_ai.usage.output_tokens", output)

    @staticmethod
    def start_span(model: str, what: str) -> trace.Span:
        """A span for one request (used as a context manager)."""
        span = telemetry.tracer().start_span("gemini.generate")
        span.set_attribute("gen_ai.system", "gemini")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("shoebox.gemini.what", what)
        return span

    # ----------------------------------------------------------------------- async
    async def generate(
        self,
        *,
        model: str,
        system: str,
        parts: Sequence[types.Part],
        answer: type[T],
        meter: Meter,
        estimate: int,
        what: str,
        check: Callable[[T], None] = lambda _: None,
        read: Callable[[types.GenerateContentResponse], T] | None = None,
    ) -> T:
        """One structured request: the answer decoded into ``answer`` (or by ``read``, for an answer that
        needs more than a decode: clamping, say; the schema is still ``answer``'s) and passed through
        ``check`` (either raises ``Unreadable`` to ask again). Raises ``ProviderError`` when the attempts
        run out."""
        client = await self.client()
        config = structured_config(system, answer)
        reader = read if read is not None else (lambda response: decode(response, answer, what))
        contents = [types.Content(role="user", parts=list(parts))]

        async def once() -> T:
            meter.check(estimate, what)
            with trace.use_span(self.start_span(model, what), end_on_exit=True) as span:
                try:
                    response = await client.aio.models.generate_content(
                        model=model, contents=contents, config=config
                    )
                except genai_errors.APIError as exc:
                    # the client retried what it retries (429, 5xx, timeouts); this is what was left
                    raise self.refused(exc, what) from exc
                self.count(response, span, meter)
                value = reader(response)
                check(value)
                return value

        try:
            async for attempt in tenacity.AsyncRetrying(**self.reasking()):
                with attempt:
                    return await once()
        except Unreadable as exc:
            raise self.gave_up(exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def upload_video(self, data: bytes, *, mime_type: str, name: str) -> types.Part:
        """``data`` through the Files API, once it is ``ACTIVE``: a part that refers to it. Raises
        ``ProviderError`` when it fails or stays ``PROCESSING`` past ``SHOEBOX_AI_FILE_WAIT_S``."""
        uploaded = await self.upload_file(data, mime_type=mime_type, name=name)
        return types.Part.from_uri(file_uri=uploaded.uri or "", mime_type=mime_type)

    async def delete_file(self, file_name: str) -> None:
        """Delete an uploaded file (``files/...``) once it has served; best effort: the Files API drops
        files after 48 h anyway, so a failure is logged, never raised. Shielded from cancellation (a
        cancelled job still cleans up) and bounded by the request timeout."""
        if not file_name:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.ai.request_timeout_s):
            try:
                await (await self.client()).aio.files.delete(name=file_name)
            except (genai_errors.APIError, OSError) as exc:
                log.warning("gemini: could not delete %s from the Files API: %s", file_name, exc)

    async def upload_file(self, data: bytes, *, mime_type: str, name: str) -> types.File:
        """``data`` through the Files API, returned once it is ``ACTIVE`` (its ``name`` is what
        ``delete_file`` takes). Raises ``ProviderError`` when it fails or stays ``PROCESSING`` past
        ``SHOEBOX_AI_FILE_WAIT_S``; a file that never became usable is deleted before raising."""
        client = await self.client()
        try:
            uploaded = await client.aio.files.upload(
                file=io.BytesIO(data), config=types.UploadFileConfig(mime_type=mime_type, display_name=name)
            )
        except genai_errors.APIError as exc:
            raise ProviderError(f"the Files API refused the preview of {name}: {exc.code}") from exc
        file_name = uploaded.name or ""

        def processing(f: types.File) -> bool:
            return f.state == types.FileState.PROCESSING

        current = uploaded
        if processing(current):
            try:
                async for attempt in tenacity.AsyncRetrying(
                    stop=tenacity.stop_after_delay(self.ai.file_wait_s),
                    # jitter: concurrent jobs spread their polls out
                    wait=tenacity.wait_fixed(self.file_poll_s)
                    + tenacity.wait_random(0, self.file_poll_s / 2),
                    retry=tenacity.retry_if_result(processing),
                ):
                    with attempt:
                        current = await client.aio.files.get(name=file_name)
                    outcome = attempt.retry_state.outcome
                    if outcome is not None and not outcome.failed:
                        attempt.retry_state.set_result(current)
            except tenacity.RetryError as exc:
                await self.delete_file(file_name)
                raise ProviderError(
                    f"the preview of {name} was still PROCESSING in the Files API after "
                    f"{self.ai.file_wait_s:g} s"
                ) from exc
        if current.state != types.FileState.ACTIVE or not current.uri:
            await self.delete_file(file_name)
            raise ProviderError(f"the Files API could not process the preview of {name} ({current.state})")
        return current

    # ----------------------------------------------------------------------- sync
    def ask_sync(
        self,
        *,
        model: str,
        parts: Sequence[types.Part],
        config: types.GenerateContentConfig,
        read: Callable[[types.GenerateContentResponse], T],
        what: str,
        meter: Meter | None = None,
        estimate: int = 0,
    ) -> T:
        """One request from synchronous code: the answer through ``read`` (which raises ``Unreadable`` to
        ask again). Raises ``ProviderError`` when the client's retries or the attempts run out."""
        client = self.client_sync()
        contents = [types.Content(role="user", parts=list(parts))]

        def once() -> T:
            if meter is not None:
                meter.check(estimate, what)
            with trace.use_span(self.start_span(model, what), end_on_exit=True) as span:
                try:
                    response = client.models.generate_content(model=model, contents=contents, config=config)
                except genai_errors.APIError as exc:
                    raise self.refused(exc, what) from exc
                self.count(response, span, meter)
                return read(response)

        try:
            for attempt in tenacity.Retrying(**self.reasking()):
                with attempt:
                    return once()
        except Unreadable as exc:
            raise self.gave_up(exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def generate_sync(
        self,
        *,
        model: str,
        system: str,
        parts: Sequence[types.Part],
        answer: type[T],
        what: str,
        meter: Meter | None = None,
        estimate: int = 0,
    ) -> T:
        """``generate`` from synchronous code: one structured request decoded into ``answer``."""
        return self.ask_sync(
            model=model,
            parts=parts,
            config=structured_config(system, answer),
            read=lambda response: decode(response, answer, what),
            what=what,
            meter=meter,
            estimate=estimate,
        )


# --------------------------------------------------------------------------- wiring
def gemini_configured(settings: Settings) -> bool:
    """A key, or an SSM parameter that holds one, is configured."""
    ai = settings.ai
    return bool(ai.gemini_api_key.strip() or ai.gemini_api_key_parameter.strip())


def gemini_caller(settings: Settings) -> GeminiCaller:
    """The process's Gemini caller: its key from the settings, or read once from SSM on first use."""

    async def ssm_read(name: str) -> str:
        async with get_session().create_client("ssm", **client_kwargs(settings)) as ssm:
            answer = await ssm.get_parameter(Name=name, WithDecryption=True)
        return str(answer["Parameter"].get("Value", ""))

    cached: list[str] = []

    async def key() -> str:
        if not cached:  # read once per process (a Lambda's cold start), never logged
            cached.append(await read_parameter(settings.ai, ssm_read))
        return cached[0]

    return GeminiCaller(settings.ai, key=key)
