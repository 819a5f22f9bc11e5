"""Every repository path the documents and the code name exists: README.md, docs/, and the docstrings and
comments of every module. A moved or deleted file leaves no reader looking for it."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

#: a path that starts at one of the repository's top-level entries (``shared/runtime/log.py``,
#: ``deploy/sagas/``, ``.ci/run``)
_PATH = re.compile(r"(?<![\w./-])(\.?[A-Za-z_][\w.-]*(?:/[\w.-]+)+/?)")
#: a bare module or page name (``log.py``, ``spine.md``): some tracked file must carry it
_BARE = re.compile(r"(?<![\w./-])([A-Za-z_][\w-]*\.(?:py|md|js|css))\b(?![/\w])")
#: placeholders and patterns are not paths: ``thumbnails/<session>/<name>.jpg``, ``tests/*/conftest.py``
_NOT_A_PATH = re.compile(r"[<>{}*…$%]|\.\.\.")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


TRACKED = _tracked()
TOP_LEVEL = {p.split("/", 1)[0] for p in TRACKED}
#: what the tree holds: files and every folder above them
EXISTING = set(TRACKED) | {str(Path(p).parents[i]) for p in TRACKED for i in range(len(Path(p).parents) - 1)}
BASENAMES = {Path(p).name for p in TRACKED}


def _comment_and_docstring_text(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python module."""
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                yield (node.body[0].lineno, doc)


def _hash_comments(path: Path) -> Iterator[tuple[int, str]]:
    """Comment lines of TOML, YAML and shell files."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if "#" in line:
            yield i, line[line.index("#") :]


def _js_comments(path: Path) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if "//" in line or line.lstrip().startswith(("/*", "*")):
            yield i, line


def _documents() -> Iterator[tuple[str, int, str]]:
    for rel in TRACKED:
        path = ROOT / rel
        if rel == "README.md" or (rel.startswith("docs/") and rel.endswith(".md")):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                yield rel, i, line
        elif rel.endswith(".py"):
            for i, text in _comment_and_docstring_text(path):
                yield rel, i, text
        elif rel.endswith(".js"):
            for i, text in _js_comments(path):
                yield rel, i, text
        elif rel.endswith((".toml", ".yml")) or rel.startswith(("scripts/", ".ci/")):
            for i, text in _hash_comments(path):
                yield rel, i, text


def named_paths(text: str) -> Iterator[str]:
    """The repository paths and module names a piece of text names."""
    for m in _PATH.finditer(text):
        candidate = m.group(1).rstrip(".")
        first = candidate.split("/", 1)[0]
        if first in TOP_LEVEL and not _NOT_A_PATH.search(candidate):
            yield candidate.rstrip("/")
    for m in _BARE.finditer(text):
        yield m.group(1)


def _exists(name: str) -> bool:
    if "/" in name:
        return name in EXISTING
    return name in BASENAMES


def missing_paths() -> list[str]:
    out = []
    for rel, line, text in _documents():
        for name in named_paths(text):
            if not _exists(name):
                out.append(f"{rel}:{line}: {name}")
    return out


def test_every_path_the_documents_and_the_code_name_exists() -> None:
    assert missing_paths() == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see shared/runtime/log.py and docs/spine.md", ["shared/runtime/log.py", "docs/spine.md"]),
        ("``tests/unit/events/test_log_contract.py``", ["tests/unit/events/test_log_contract.py"]),
        ("the old one in ``upcasting.py``.", ["upcasting.py"]),
        ("thumbnails/<session>/<name>.jpg and ../shared/testdata", []),
        ("an S3 key uploads/abc/x.jpg", []),
    ],
)
def test_the_path_finder_sees_what_a_reader_would_follow(text: str, found: list[str]) -> None:
    assert list(named_paths(text)) == found


def test_a_name_that_is_not_there_is_reported() -> None:
    assert not _exists("tests/unit/events/test_log_contract.py")
    assert not _exists("upcasting.py")
    assert _exists("shared/events/codec.py") and _exists("deploy/sagas") and _exists("codec.py")
