"""The job's resume file, ``OUT/.shoebox-session.json``: which session, and what is uploaded already.

Written after every completed upload (atomically), so an interrupted job run again against the same API
and folder continues the same session and uploads nothing twice.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

STATE_FILE = ".shoebox-session.json"


class Uploaded(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    sha256: str


class JobState(msgspec.Struct, kw_only=True):
    version: int = 1
    api: str
    session_id: str
    directory: str
    context: str
    #: relative path -> what it was uploaded as
    uploads: dict[str, Uploaded] = {}

    def matches(self, *, api: str, directory: Path) -> bool:
        return self.api.rstrip("/") == api.rstrip("/") and Path(self.directory) == directory.resolve()


def load(out: Path) -> JobState | None:
    try:
        return msgspec.json.decode((out / STATE_FILE).read_bytes(), type=JobState)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def save(out: Path, state: JobState) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / STATE_FILE
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(state), indent=2))
    os.replace(tmp, path)


def remove(out: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (out / STATE_FILE).unlink()
