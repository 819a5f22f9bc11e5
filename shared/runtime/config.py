"""One configuration per process: a nested ``Settings``, read from the environment once.

Each entrypoint (the embedded stack, each Lambda handler on its first invocation, the CLI) calls
``Settings.from_env()`` once and passes the parts down: ``settings.media`` to media_process's limits,
``settings.triage`` and ``settings.stream`` to the API's routes (through the app's state), ``settings.api``
to the API's host check, ``settings.auth`` to the token verifier, ``settings.ai`` to the selection service.
``from_env`` is the only reader of ``SHOEBOX_*`` variables and no module reads the environment when it is
imported (a test holds both); ``to_env`` gives the environment back, for child processes.

Every leaf field is one variable, ``SHOEBOX_<SECTION>_<FIELD>`` (``SHOEBOX_MEDIA_MAX_PIXELS``) unless its
``Meta`` names another (names older than the sections, kept so that existing deployments keep working:
``SHOEBOX_PREFIX``, ``SHOEBOX_REGION``, ``SHOEBOX_API_STREAM_MAX_S``, ``SHOEBOX_GEMINI_API_KEY``). Each has
one default, here, and a one-line description that becomes the README's table (``task settings`` rewrites it;
``python -m shared.runtime.config`` prints it). A value that does not parse, or breaks a constraint, is a
``ConfigError`` naming the variable.

The AWS endpoint is the only thing that differs between the embedded emulator, LocalStack and a real
account: ``SHOEBOX_AWS_ENDPOINT`` (unset on AWS).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

#: the key, in a field's ``Meta.extra``, of a variable name other than ``SHOEBOX_<SECTION>_<FIELD>``
ENV = "env"
PREFIX = "SHOEBOX_"


def doc(description: str, *, env: str | None = None, **constraints: Any) -> msgspec.Meta:
    """A field's ``Meta``: its one-line description (the README's), its constraints, and its variable's
    name when it is not the derived one."""
    return msgspec.Meta(description=description, extra={ENV: env} if env else None, **constraints)


class Names(msgspec.Struct, frozen=True, kw_only=True):
    """Every AWS resource name, derived from one prefix so two stacks never collide."""

    prefix: str

    @property
    def events_table(self) -> str:
        return f"{self.prefix}-events"

    @property
    def views_table(self) -> str:
        return f"{self.prefix}-views"

    @property
    def media_bucket(self) -> str:
        return f"{self.prefix}-media"

    @property
    def bus(self) -> str:
        return f"{self.prefix}-bus"

    def queue(self, service: str) -> str:
        return f"{self.prefix}-{service.replace('_', '-')}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.queue(service)}-dlq"

    def rule(self, service: str, name: str) -> str:
        return f"{self.queue(service)}-{name}"

    def state_machine(self, name: str) -> str:
        return f"{self.prefix}-{name}-saga"  # never a queue's name: a service and a saga may share one


MiB = 1024 * 1024


# --------------------------------------------------------------------------- the sections
class AwsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the AWS resources are and what they are called."""

    prefix: Annotated[
        str,
        doc(
            "Starts the name of every AWS resource (tables, bucket, queues, bus, state machines)",
            env="SHOEBOX_PREFIX",
            pattern="^[a-z0-9][a-z0-9-]*$",  # S3 bucket names: lower-case letters, digits and hyphens
        ),
    ] = "shoebox"
    region: Annotated[str, doc("The AWS region", env="SHOEBOX_REGION", min_length=1)] = "us-east-1"
    endpoint: Annotated[
        str | None,
        doc("The AWS endpoint: the emulator's or LocalStack's URL; unset on AWS"),
    ] = None
    access_key_id: Annotated[
        str | None,
        doc(
            "The access key for a custom endpoint; on AWS the usual chain (the embedded stack uses its own, "
            "made in its state folder)"
        ),
    ] = None
    secret_access_key: Annotated[
        str | None,
        doc(
            "The secret key for a custom endpoint; on AWS the usual chain (the embedded stack uses its own, "
            "made in its state folder)"
        ),
    ] = None
    state_machine_arn_prefix: Annotated[
        str,
        doc(
            "A state machine's ARN without its name (`arn:aws:states:<region>:<account>:stateMachine:`): "
            "sagas are started at this + their name; empty: looked up by name (ListStateMachines)"
        ),
    ] = ""
    cors_origins: Annotated[
        str,
        doc(
            "Origins, space- or comma-separated, that the media bucket's CORS rule allows besides the "
            "embedded stack's API (`http://127.0.0.1:<port>`, `http://localhost:<port>`)"
        ),
    ] = ""

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """``cors_origins`` as a tuple, in order, each once."""
        return tuple(dict.fromkeys(o for o in self.cors_origins.replace(",", " ").split() if o))


class MediaSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Input limits and output sizes of the media pipelines (media_process's ``Limits``)."""

    max_photo_bytes: Annotated[
        int, doc("The largest photo (bytes): the API refuses a larger upload, media_process rejects it", ge=1)
    ] = 200 * MiB
    max_video_bytes: Annotated[
        int, doc("The largest video (bytes): the API refuses a larger upload, media_process rejects it", ge=1)
    ] = 5 * 1024 * MiB
    #: checked from the header before any pixel is decoded (decompression bombs); 200 MP covers every
    #: phone and most medium-format cameras
    max_pixels: Annotated[
        int, doc("The most pixels in a photo or video frame, checked before decoding", ge=1)
    ] = 200_000_000
    max_video_duration_s: Annotated[float, doc("The longest video (seconds)", gt=0)] = 30 * 60.0
    thumbnail_px: Annotated[int, doc("The long side of thumbnails (pixels)", ge=1)] = 400
    convert_long_side_px: Annotated[
        int, doc("Photos with a longer long side get a converted copy scaled to it (pixels)", ge=1)
    ] = 2048
    #: a width/2^n of 12 MP sensors: shrink-on-load stays exact
    signal_px: Annotated[int, doc("The working size of photo quality signals (pixels, long side)", ge=1)] = (
        1008
    )
    preview_max_height: Annotated[
        int, doc("The height of video previews for the AI steps, at most", ge=1)
    ] = 720
    ffmpeg_timeout_s: Annotated[float, doc("The longest one ffmpeg run may take (seconds)", gt=0)] = 300.0
    probe_timeout_s: Annotated[float, doc("The longest probing a video may take (seconds)", gt=0)] = 30.0


class TriageSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The triage saga's budgets, given to each execution the API starts (in polls of 3 s)."""

    #: a Standard execution holds 25,000 history events, ~13 per poll: the budgets together stay well under
    upload_window_s: Annotated[
        int, doc("Before finalize: how long a session may take to upload (seconds)", ge=1)
    ] = 45 * 60
    deadline_s: Annotated[
        int, doc("From finalize: the deadline for the last files to be decided (seconds)", ge=1)
    ] = 30 * 60
    verdict_wait_s: Annotated[
        int, doc("How long the saga waits for selection's verdicts once it asked for them (seconds)", ge=1)
    ] = 15 * 60


class SelectionSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The selection saga's budgets, given to each execution the API starts (in polls of 3 s)."""

    #: ~15 history events per poll while files are undecided, ~8 while waiting for the triage (for at most
    #: ``triage.verdict_wait_s``) and for the result: the defaults come to ~22,000 of a Standard
    #: execution's 25,000
    wait_s: Annotated[
        int,
        doc("How long a selection waits for the session's files and its triage (seconds)", ge=1),
    ] = 60 * 60
    result_wait_s: Annotated[
        int, doc("How long the selection saga waits for the result once it asked (seconds)", ge=1)
    ] = 10 * 60


class EnhancementSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The enhancement job: its saga's budget (in polls of 3 s), which of its items can be enhanced, and
    the photo pipeline's stop rule."""

    #: ~8 history events per poll: 2 hours is ~19,000 of a Standard execution's 25,000
    wait_s: Annotated[
        int, doc("How long the enhancement saga waits for the job's items to end (seconds)", ge=1)
    ] = 2 * 60 * 60
    #: the topology (``deploy/topology.py``) deploys the video service, so videos are enhanced by default;
    #: a deployment without its Lambda turns this off (its videos end skipped instead of waiting)
    video_deployed: Annotated[
        bool,
        doc(
            "Whether the video service is deployed: while it is not, the videos of a job end skipped at once"
        ),
    ] = True
    score_threshold: Annotated[
        float,
        doc(
            "The enhancement stop rule: no surgical edits once the analysis scores a photo this high (0..10)",
            ge=0,
            le=10,
        ),
    ] = 8.5


#: x264's presets, fastest first (a preset is a word on ffmpeg's command line: only these are accepted)
X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]


class VideoSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The video enhancement pipeline (services/video): the render's speed/size trade-off, the longest clip
    it renders, and the size its analysis measures at."""

    preset: Annotated[
        X264Preset, doc("The x264 preset of enhanced videos (no slower than veryfast by default)")
    ] = "veryfast"
    #: derived from the measured render speed and the video Lambda (services/video/topology.py: 4096 MB,
    #: ~2.3 vCPU, 900 s handler timeout; docs/video.md "The service"): the slowest item, a 1080p clip with
    #: vidstab + hqdn3d + eq + lut + unsharp, costs 4.5 CPU-s per second of clip (analysis included);
    #: counted at one busy core, 150 s of clip take ~675 s, 75 % of the timeout, the rest for the
    #: downloads, the upload and a slower-than-measured run
    max_duration_s: Annotated[
        float,
        doc(
            "The longest video that is enhanced (seconds); longer ones end too_long with their duration and "
            "this limit. Sized so the slowest 1080p render fits the video Lambda's 900 s timeout",
            gt=0,
        ),
    ] = 150.0
    analysis_px: Annotated[
        int, doc("The long side of the frames the video analysis measures (pixels)", ge=64, le=1920)
    ] = 320


class StreamSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The API's Server-Sent Events stream."""

    max_s: Annotated[
        int,
        doc(
            "The longest an event stream lasts before the client reconnects (seconds)",
            env="SHOEBOX_API_STREAM_MAX_S",
            ge=1,
        ),
    ] = 600


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP API's own edges."""

    allowed_hosts: Annotated[
        str,
        doc(
            "The `Host` values the API answers, comma-separated (`name` or `name:port`, `*.domain` for its "
            "subdomains); any other is a 400 (DNS rebinding). The embedded stack adds its own "
            "`127.0.0.1:<port>` and `localhost:<port>`; on AWS, the API's domain"
        ),
    ] = ""
    #: long enough to buffer a clip the service renders (the page asks again when a URL has run out)
    media_url_ttl_s: Annotated[
        int,
        doc(
            "How long a presigned GET the page plays a video from is valid (seconds): a `<video>` cannot "
            "send the bearer token, so it reads the clip straight from storage",
            ge=1,
            le=3600,
        ),
    ] = 600

    @property
    def hosts(self) -> tuple[str, ...]:
        """``allowed_hosts`` as a list: lower-case, without blanks or repeats, in order."""
        seen: dict[str, None] = {}
        for host in self.allowed_hosts.split(","):
            if host.strip():
                seen[host.strip().lower()] = None
        return tuple(seen)

    def with_hosts(self, *hosts: str) -> ApiSettings:
        """These settings with ``hosts`` allowed first (the embedded stack's own)."""
        return msgspec.structs.replace(self, allowed_hosts=",".join([*hosts, *self.hosts]))


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Whom the API trusts for bearer tokens on AWS (the embedded stack has its own issuer)."""

    issuer: Annotated[
        str, doc("The token issuer: `https://cognito-idp.<region>.amazonaws.com/<pool id>`")
    ] = ""
    audience: Annotated[str, doc("The audience: the Cognito app client id")] = ""
    jwks_url: Annotated[str, doc("The issuer's keys (empty: `<issuer>/.well-known/jwks.json`)")] = ""
    #: an origin only (the page adds /oauth2/...); plain http for a loopback test server alone
    hosted_ui_url: Annotated[
        str,
        doc(
            "The Cognito hosted UI the page signs in through (code flow + PKCE, client id = the audience): "
            "`https://<domain>.auth.<region>.amazoncognito.com`; empty: the page asks for a pasted token",
            pattern=r"^(https://[A-Za-z0-9.-]+(:[0-9]+)?|http://(127\.0\.0\.1|localhost)(:[0-9]+)?)?/?$",
        ),
    ] = ""


class AiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The AI providers of the selection steps and of enhancement (Gemini; Imagen on Vertex AI)."""

    gemini_api_key: Annotated[
        str,
        doc(
            "The Gemini API key (never logged); empty, and no parameter below: the offline provider",
            env="SHOEBOX_GEMINI_API_KEY",
        ),
    ] = ""
    gemini_api_key_parameter: Annotated[
        str,
        doc(
            "The SSM Parameter Store name (SecureString) holding the Gemini key, read once per process when "
            "`SHOEBOX_GEMINI_API_KEY` is empty"
        ),
    ] = ""
    gemini_base_url: Annotated[
        str, doc("The Gemini API's base URL; empty: Google's (tests point it at a local server)")
    ] = ""
    triage_model: Annotated[str, doc("The Gemini model that triages", min_length=1)] = "gemini-2.5-flash"
    selection_model: Annotated[str, doc("The Gemini model that selects", min_length=1)] = "gemini-2.5-flash"
    #: the reference system found that larger batches made the model silently drop items (§5.2: it used 20)
    triage_batch_size: Annotated[int, doc("Items per Gemini triage request", ge=1, le=200)] = 20
    selection_one_stage_limit: Annotated[
        int,
        doc(
            "Up to this many items, Gemini selects in one request; above, per-scene shortlists, then a final "
            "pick",
            ge=2,
        ),
    ] = 150
    retry_attempts: Annotated[
        int,
        doc("Attempts per Gemini request (429, 5xx, timeouts, unreadable answers), the first included", ge=1),
    ] = 4
    retry_initial_delay_s: Annotated[
        float, doc("The first retry's delay (seconds; doubled each time, with jitter)", ge=0)
    ] = 1.0
    request_timeout_s: Annotated[float, doc("The longest one Gemini request may take (seconds)", gt=0)] = (
        120.0
    )
    file_wait_s: Annotated[
        float,
        doc("How long an uploaded video preview may stay `PROCESSING` in the Files API (seconds)", gt=0),
    ] = 300.0
    session_token_budget: Annotated[
        int,
        doc(
            "The most Gemini tokens one job of a session may spend; a job that would exceed it fails "
            '(`provider_error`, "token budget")',
            ge=1,
        ),
    ] = 2_000_000
    enhance_image_model: Annotated[
        str,
        doc(
            "The Gemini image model of enhancement's edits (phase 1, phase 3 without Vertex AI)", min_length=1
        ),
    ] = "gemini-2.5-flash-image"
    enhance_analysis_model: Annotated[
        str,
        doc("The Gemini model that analyses an enhanced photo (phase 2, structured output)", min_length=1),
    ] = "gemini-2.5-flash"
    video_model: Annotated[
        str,
        doc(
            "The Gemini model that recommends a video's corrections (the 720p preview and the analysis "
            "figures in, structured recommendations out)",
            min_length=1,
        ),
    ] = "gemini-2.5-flash"
    enhance_long_side: Annotated[
        int,
        doc(
            "The long side (px) of the copy of a photo sent to a Gemini or Imagen edit (never the original); "
            "the answer is resized back to the photo's size",
            ge=256,
            le=4096,
        ),
    ] = 2048
    vertex_project: Annotated[
        str,
        doc(
            "The Google Cloud project of Vertex AI's Imagen mask edits (enhancement's phase 3); empty: "
            "phase 3 asks the Gemini image model with the region in words"
        ),
    ] = ""
    vertex_location: Annotated[str, doc("The Vertex AI region of the Imagen mask edits", min_length=1)] = (
        "us-central1"
    )
    vertex_edit_model: Annotated[str, doc("The Imagen model of the mask edits", min_length=1)] = (
        "imagen-3.0-capability-001"
    )
    vertex_base_url: Annotated[
        str, doc("Vertex AI's base URL; empty: Google's (tests point it at a local server)")
    ] = ""


class TelemetrySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Traces and metrics."""

    exporter: Annotated[
        Literal["none", "console", "otlp"], doc("Where traces and metrics go: `none`, `console` or `otlp`")
    ] = "none"


class LogSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The process's logs (on stderr)."""

    level: Annotated[
        str,
        doc(
            "The lowest level logged: `DEBUG`, `INFO`, `WARNING`, `ERROR`",
            pattern="(?i)^(debug|info|warning|error|critical)$",
        ),
    ] = "INFO"
    format: Annotated[Literal["json", "text"], doc("`json` (one object a line) or `text`")] = "json"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a process is configured with; see the module's doc."""

    aws: AwsSettings = msgspec.field(default_factory=AwsSettings)
    media: MediaSettings = msgspec.field(default_factory=MediaSettings)
    triage: TriageSettings = msgspec.field(default_factory=TriageSettings)
    selection: SelectionSettings = msgspec.field(default_factory=SelectionSettings)
    enhancement: EnhancementSettings = msgspec.field(default_factory=EnhancementSettings)
    video: VideoSettings = msgspec.field(default_factory=VideoSettings)
    stream: StreamSettings = msgspec.field(default_factory=StreamSettings)
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    ai: AiSettings = msgspec.field(default_factory=AiSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    tmp_dir: Annotated[
        str | None, doc("Where services make their private temporary folders (unset: the system's)")
    ] = None

    @property
    def names(self) -> Names:
        return Names(prefix=self.aws.prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment (``os.environ`` unless given) gives; unset variables keep their
        defaults. Raises ``ConfigError`` naming every variable whose value is not valid."""
        env = os.environ if env is None else env
        tree: dict[str, Any] = {}
        errors: list[str] = []
        for var in VARIABLES:
            if var.name not in env:
                continue
            raw = env[var.name]
            try:
                value = msgspec.convert(raw, var.type, strict=False)
            except msgspec.ValidationError as exc:
                errors.append(f"{var.name}={raw!r}: {exc} ({var.description})")
                continue
            node = tree
            for part in var.path[:-1]:
                node = node.setdefault(part, {})
            node[var.path[-1]] = value
        if errors:
            raise ConfigError(errors)
        return msgspec.convert(tree, cls)

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings (for child processes)."""
        return {var.name: str(value) for var in VARIABLES if (value := var.value(self)) is not None}


class ConfigError(ValueError):
    """Variables whose values are not valid; the message names each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------- the variables
class Variable(msgspec.Struct, frozen=True, kw_only=True):
    """One environment variable: the leaf field it sets (``path`` from ``Settings``), its type with its
    constraints, its default and its description."""

    name: str
    path: tuple[str, ...]
    type: Any
    default: Any
    description: str

    def value(self, settings: Settings) -> Any:
        node: Any = settings
        for part in self.path:
            node = getattr(node, part)
        return node


def _meta(annotation: Any) -> list[msgspec.Meta]:
    return [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, msgspec.Meta)]


def variables(cls: type[msgspec.Struct] = Settings, path: tuple[str, ...] = ()) -> tuple[Variable, ...]:
    """Every leaf field of ``cls`` as its variable, in declaration order (sections recursed into)."""
    out: list[Variable] = []
    for field in msgspec.structs.fields(cls):
        here = (*path, field.name)
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            out.extend(variables(field.type, here))
            continue
        metas = _meta(field.type)
        description = next((m.description for m in metas if m.description), None)
        if not description:
            raise TypeError(f"{'.'.join(here)} needs a description (config.doc)")
        named = next((m.extra[ENV] for m in metas if m.extra and ENV in m.extra), None)
        out.append(
            Variable(
                name=named or PREFIX + "_".join(here).upper(),
                path=here,
                type=field.type,
                default=field.default,
                description=description,
            )
        )
    return tuple(out)


VARIABLES = variables()


# --------------------------------------------------------------------------- the README's table
#: the README's table is the text between these two lines
TABLE_BEGIN = "<!-- settings:begin (generated from shared/runtime/config.py: task settings) -->"
TABLE_END = "<!-- settings:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_table() -> str:
    """The markdown table of every variable: name, default, description."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {_default_text(v.default)} | {v.description} |" for v in VARIABLES]
    return "\n".join(rows) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the text between the markers replaced by ``settings_table()``."""
    head, begin, rest = readme.partition(TABLE_BEGIN)
    _, end, tail = rest.partition(TABLE_END)
    if not begin or not end:
        raise ValueError(f"the README has no {TABLE_BEGIN!r} ... {TABLE_END!r} markers")
    return f"{head}{TABLE_BEGIN}\n{settings_table()}{TABLE_END}{tail}"


def main(argv: Sequence[str]) -> int:
    """``python -m shared.runtime.config``: print the table; ``... write [README]``: rewrite the README's."""
    if not argv:
        sys.stdout.write(settings_table())
        return 0
    if argv[0] != "write" or len(argv) > 2:
        print("usage: python -m shared.runtime.config [write [README.md]]", file=sys.stderr)
        return 2
    path = Path(argv[1]) if len(argv) == 2 else README
    text = path.read_text(encoding="utf-8")
    updated = with_table(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: the settings table is rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
