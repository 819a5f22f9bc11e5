"""The job's input: which files of a folder, what they are by name, their bytes' hash, their upload names."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from shared.runtime import media_types
from shared.runtime.inbound import MAX_NAME, NAME_CHARACTERS

OCTET_STREAM = "application/octet-stream"
_HASH_CHUNK = 1024 * 1024

_NAME_BAD = re.compile(f"[^{NAME_CHARACTERS}]")


class InputFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # relative to the folder, '/'-separated: how the report names it
    abspath: str
    size: int
    content_type: str  # from the name; the service sniffs the content

    @property
    def readable(self) -> bool:
        """A photo or video type Shoebox reads (``shared.runtime.media_types``): only these are uploaded."""
        return media_types.kind_of(self.content_type) is not None


def content_type(name: str) -> str:
    """The media type Shoebox reads that the name's extension says (``shared.runtime.media_types``, as the
    page does); for any other file, what the report shows: the system's guess, or
    ``application/octet-stream``. A file is uploaded only by a listed extension: a guess that happens to be
    a type Shoebox reads (``.ts`` is ``video/mp2t`` on some systems, and a TypeScript file on most) is
    shown as ``application/octet-stream``, so the same folder is sent the same way on every machine."""
    readable = media_types.by_name(name)
    if readable is not None:
        return readable
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None or media_types.kind_of(guessed) is not None:
        return OCTET_STREAM
    return guessed


def scan(directory: Path, *, exclude: Sequence[Path] = ()) -> list[InputFile]:
    """Every regular file under ``directory``, recursively, sorted by path; hidden files and folders (and
    anything under ``exclude``, e.g. the output folder) are skipped."""
    root = directory.resolve()
    excluded = [p.resolve() for p in exclude]
    found: list[InputFile] = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        resolved = p.resolve()
        if any(resolved == x or x in resolved.parents for x in excluded):
            continue
        found.append(
            InputFile(
                path=rel.as_posix(), abspath=str(p), size=p.stat().st_size, content_type=content_type(p.name)
            )
        )
    return sorted(found, key=lambda f: f.path)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def plain_name(path: str) -> str:
    """The file's name as the API accepts it: letters, digits, '.', '_', '-', ' ', '(', ')', '+',
    starting with a letter or digit, at most 255 characters."""
    name = _NAME_BAD.sub("_", Path(path).name).strip()
    while ".." in name:
        name = name.replace("..", "_.")
    if not name or not name[0].isalnum():
        name = "f" + name
    if len(name) > MAX_NAME:
        stem, suffix = Path(name).stem, Path(name).suffix[:16]
        name = stem[: MAX_NAME - len(suffix)] + suffix
    return name


def unique_name(path: str, taken: set[str]) -> str:
    """``plain_name``, made unique against ``taken`` with a " (2)", " (3)"... suffix; adds it to ``taken``."""
    name = plain_name(path)
    if name.lower() in taken:
        stem, suffix = Path(name).stem, Path(name).suffix
        n = 2
        while True:
            tail = f" ({n}){suffix}"
            candidate = stem[: MAX_NAME - len(tail)] + tail
            if candidate.lower() not in taken:
                name = candidate
                break
            n += 1
    taken.add(name.lower())
    return name


def assign_names(paths: Iterable[str], known: dict[str, str]) -> dict[str, str]:
    """An upload name per path: the one already used (``known``, from a resumed job) or a new unique one.
    Deterministic for the same input, so a resumed job names new files as the first run would have."""
    taken = {n.lower() for n in known.values()}
    return {p: known[p] if p in known else unique_name(p, taken) for p in paths}
