"""ffprobe and ffmpeg on untrusted files: locked-down command lines and a child process with a deadline
(used by media_process and video; the binaries come from the system, ffmpeg-python from the `ffmpeg` extra).

Every call built here:

- reads its input through the ``file`` protocol only (``-protocol_whitelist file``): no http, tcp, udp,
  rtmp, crypto or data URLs, for the input and for anything a demuxer opens from it, so a playlist or
  reference file cannot reach the network;
- may only use the demuxers of the containers ``sniff`` accepts (``-format_whitelist``): an HLS playlist,
  an ffconcat list or an image sequence is refused before it is parsed, so it cannot pull in other local
  files either;
- names its input ``file:<absolute path>``, so no file name is read as a protocol or an option;
- runs with no stdin (``-nostdin`` for ffmpeg, ``/dev/null`` for both), no banner, ``-v error``, in its own
  session, and is killed when its wall-clock time limit passes;
- keeps at most a bounded part of the child's stdout and stderr in memory.

ffmpeg-python builds the ffmpeg command lines (``compile``); it has no time limit and no ffprobe builder, so
the child is run here and the ffprobe command line is written out.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import ffmpeg
import msgspec

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

#: the only protocol an input may be read with
PROTOCOLS = "file"
#: demuxers an input may be read with, by ffmpeg's short names: ``mov`` reads MP4, MOV, M4V and 3GP,
#: ``matroska`` reads MKV and WebM; these are the containers ``sniff`` recognises as video
INPUT_FORMATS = "mov,matroska,avi,mpegts"

#: options for every input (ffmpeg-python ``input`` keyword arguments)
SAFE_INPUT: dict[str, str] = {"protocol_whitelist": PROTOCOLS, "format_whitelist": INPUT_FORMATS}
#: global options for every ffmpeg run; ``-y`` because outputs have fixed names inside the work dir
FFMPEG_GLOBAL = ["-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"]

#: stdout kept in memory (ffprobe JSON, per-frame filter metadata); more than this fails the run
STDOUT_LIMIT = 32 * 1024 * 1024
#: stderr kept: its first and its last this many bytes (a damaged file can make ffmpeg log per frame)
STDERR_KEEP = 16 * 1024


class ToolError(RuntimeError):
    """ffmpeg or ffprobe is missing or refused the command line itself: a fault here, not in the file.

    Not a rejection: the message should be retried and, if it keeps failing, end in the dead-letter queue.
    """


#: what ffmpeg 5.1 says when the command line, not the input, is wrong
_INVOCATION_ERRORS = (
    "Unrecognized option",
    "Option not found",
    "Error parsing options",
    "you are trying to apply an input option",
    "Unknown encoder",
    "No such filter",
    "Error opening output file",
)


class ToolRun(msgspec.Struct, frozen=True, kw_only=True):
    """What a child process did."""

    argv: list[str]
    returncode: int  # negative: killed by that signal
    stdout: bytes
    stderr: str  # the first and last STDERR_KEEP bytes, decoded leniently
    elapsed_s: float
    timed_out: bool = False
    stdout_overflow: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.stdout_overflow

    def raise_for_invocation(self, outputs: Sequence[Path] = ()) -> None:
        """Raise ``ToolError`` when the run failed because of its command line or its ``outputs`` (a work
        dir that is missing or not writable: ffmpeg names the output path in its error)."""
        if self.ok or self.timed_out:
            return
        if any(m in self.stderr for m in _INVOCATION_ERRORS) or any(str(o) in self.stderr for o in outputs):
            raise ToolError(self.describe())

    def describe(self) -> str:
        """One line for a log: the program, how it ended and its last error line."""
        if self.timed_out:
            how = f"killed after {self.elapsed_s:.1f} s"
        elif self.stdout_overflow:
            how = f"printed more than {STDOUT_LIMIT} bytes"
        else:
            how = f"exit {self.returncode} after {self.elapsed_s:.2f} s"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return f"{Path(self.argv[0]).name} {how}" + (f": {lines[-1].strip()}" if lines else "")


def input_url(path: Path) -> str:
    """The input as ffmpeg should open it: the ``file`` protocol and an absolute path."""
    return "file:" + str(path.resolve())


def run(argv: list[str], timeout_s: float, on_line: Callable[[str], None] | None = None) -> ToolRun:
    """Run ``argv`` with no stdin; kill it when ``timeout_s`` of wall-clock time have passed.

    ``on_line``: called with each line of stdout as it arrives (``-progress pipe:1``), in the thread that
    reads it; stdout is kept as well, up to its limit."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,  # a terminal's signals stay with us; the kill below is by pid
        )
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    head = _HeadSink(STDOUT_LIMIT)
    out: _HeadSink | _LineSink = head if on_line is None else _LineSink(head, on_line)
    err = _HeadTailSink(STDERR_KEEP)
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join()
    return ToolRun(
        argv=argv,
        returncode=proc.returncode,
        stdout=bytes(head.data),
        stderr=err.text(),
        elapsed_s=time.monotonic() - started,
        timed_out=timed_out,
        stdout_overflow=head.overflow,
    )


def probe_argv(path: Path, formats: str = INPUT_FORMATS) -> list[str]:
    """``ffprobe`` printing the container and its streams as JSON (the input options of ``SAFE_INPUT``,
    with ``formats`` as the demuxer whitelist)."""
    options = {**SAFE_INPUT, "format_whitelist": formats}
    return [
        FFPROBE,
        "-hide_banner",
        "-v",
        "error",
        *(arg for name, value in options.items() for arg in (f"-{name}", value)),
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        input_url(path),
    ]


def probe(
    path: Path, timeout_s: float, formats: str = INPUT_FORMATS
) -> tuple[ToolRun, dict[str, Any] | None]:
    """ffprobe's JSON for ``path`` (None when it failed or printed something else)."""
    result = run(probe_argv(path, formats), timeout_s)
    if not result.ok:
        return result, None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return result, None
    return result, data if isinstance(data, dict) else None


def safe_input(path: Path, **options: Any) -> Any:
    """An ffmpeg-python input node for ``path`` with the whitelists set (``options``: ``ss=1`` ...)."""
    return ffmpeg.input(input_url(path), **SAFE_INPUT, **options)


def ffmpeg_argv(node: Any) -> list[str]:
    """The full ffmpeg command line for an ffmpeg-python output node, global options first."""
    return [FFMPEG, *FFMPEG_GLOBAL, *(str(arg) for arg in node.get_args())]


def run_ffmpeg(node: Any, timeout_s: float) -> ToolRun:
    """Run an ffmpeg-python output node (see ``ffmpeg_argv``) with a deadline."""
    return run(ffmpeg_argv(node), timeout_s)


#: the progress lines that say how far the output is (``out_time_ms`` is in microseconds too, in 5.1)
_PROGRESS_KEYS = ("out_time_us=", "out_time_ms=")


def run_ffmpeg_progress(node: Any, timeout_s: float, on_seconds: Callable[[float], None]) -> ToolRun:
    """Run an ffmpeg-python output node whose outputs are files (stdout is free) with ``-progress pipe:1``:
    ``on_seconds`` is called with the output's position (seconds) each time ffmpeg reports it (about twice a
    second), from the thread that reads ffmpeg's stdout."""

    def line(text: str) -> None:
        for key in _PROGRESS_KEYS:
            if text.startswith(key):
                try:
                    micros = int(text[len(key) :])
                except ValueError:
                    return  # "N/A" before the first frame
                on_seconds(max(0.0, micros / 1e6))
                return

    argv = ffmpeg_argv(node)
    return run([*argv[:1], "-progress", "pipe:1", *argv[1:]], timeout_s, on_line=line)


class _HeadSink:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflow = False

    def write(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.overflow = True
        self.data += chunk[: max(room, 0)]


class _HeadTailSink:
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.keep:
            cut = len(self.tail) - self.keep
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes of messages left out ...]\n" if self.dropped else ""
        return bytes(self.head).decode(errors="replace") + middle + bytes(self.tail).decode(errors="replace")


class _LineSink:
    """Keeps stdout like ``_HeadSink`` and hands each complete line to a callback."""

    def __init__(self, head: _HeadSink, callback: Callable[[str], None]) -> None:
        self.head = head
        self.callback = callback
        self.partial = bytearray()
        #: the callback's first exception: it is not called again (the run goes on)
        self.failed: Exception | None = None

    def write(self, chunk: bytes) -> None:
        self.head.write(chunk)
        self.partial += chunk
        *lines, rest = self.partial.split(b"\n")
        self.partial = bytearray(rest)
        for line in lines:
            if self.failed is None:
                try:
                    self.callback(line.decode(errors="replace").strip())
                except Exception as exc:  # stdout must keep draining, or ffmpeg stalls on a full pipe
                    self.failed = exc


def _drain(stream: IO[bytes], sink: _HeadSink | _HeadTailSink | _LineSink) -> None:
    with stream:
        while chunk := stream.read(64 * 1024):
            sink.write(chunk)
