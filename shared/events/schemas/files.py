"""The generated files under ``schemas/`` and how the committed ones differ from what the code generates.

``write`` refuses (exit 1, listing the breaking changes) when a committed schema would change
incompatibly or a committed version would disappear, unless ``force``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ..codec import CATALOGUE, Catalogue
from .asyncapi import REPO_ROOT, asyncapi_document
from .compat import breaking_changes
from .draft4 import DRAFT4_SUBDIR, draft4_filename, draft4_id, to_draft4
from .json_schema import (
    EVENTS_SUBDIR,
    SELECTION_RESULTS_FILE,
    event_schema,
    schema_filename,
    selection_results_schema,
)
from .stability import describe_import_order_differences, import_order_differences

ASYNCAPI_FILE = "asyncapi.json"
DEFAULT_DIR = REPO_ROOT / "schemas"


def dumps(document: Any) -> str:
    """Pretty-printed, sorted keys, trailing newline: byte-for-byte deterministic."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files(catalogue: Catalogue = CATALOGUE) -> dict[str, str]:
    """``{path relative to the schemas directory: content}`` of every generated file."""
    files: dict[str, str] = {}
    for cls in catalogue.events:
        schema = event_schema(cls)
        files[schema_filename(cls)] = dumps(schema)
        # the registry's copy, converted from the very same document (``draft4.py``)
        files[draft4_filename(cls)] = dumps(to_draft4(schema, document_id=draft4_id(cls)))
    files[ASYNCAPI_FILE] = dumps(asyncapi_document(catalogue))
    files[SELECTION_RESULTS_FILE] = dumps(selection_results_schema())
    return files


@dataclasses.dataclass(frozen=True)
class Difference:
    """One file whose committed content is not what the code generates."""

    path: str  # relative to the schemas directory
    status: str  # "missing" | "changed" | "stale"
    breaking: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.status == "missing":
            what = "not committed yet (a new event version or document)"
        elif self.status == "stale":
            what = "committed, but no event class in the catalogue generates it (a published version removed)"
        elif self.breaking:
            what = "differs from the code: BREAKING"
        else:
            what = "differs from the code (compatible)"
        lines = [f"{self.path}: {what}"]
        lines += [f"    {b}" for b in self.breaking]
        return "\n".join(lines)


def differences(
    directory: Path = DEFAULT_DIR,
    catalogue: Catalogue = CATALOGUE,
    *,
    expected: dict[str, str] | None = None,
) -> list[Difference]:
    """Every committed file in ``directory`` that is missing, changed or stale, with breaking changes;
    against ``expected`` when the caller has generated the files already."""
    expected = generated_files(catalogue) if expected is None else expected
    out: list[Difference] = []
    for rel, content in expected.items():
        path = directory / rel
        if not path.is_file():
            out.append(Difference(rel, "missing"))
            continue
        committed = path.read_text(encoding="utf-8")
        if committed == content:
            continue
        breaking: list[str] = []
        if rel.startswith(f"{EVENTS_SUBDIR}/") or rel == SELECTION_RESULTS_FILE:
            try:
                breaking = breaking_changes(json.loads(committed), json.loads(content))
            except json.JSONDecodeError as exc:
                breaking = [f"the committed file is not JSON: {exc}"]
        out.append(Difference(rel, "changed", tuple(breaking)))
    for subdir in (EVENTS_SUBDIR, DRAFT4_SUBDIR):
        if (directory / subdir).is_dir():
            for path in sorted((directory / subdir).glob("*.json")):
                rel = f"{subdir}/{path.name}"
                if rel not in expected:
                    out.append(Difference(rel, "stale", ("$: the published event version was removed",)))
    return out


def unstable_files(guard_import_order: bool) -> int:
    """1 (and why, on stderr) when the generation depends on import order (``stability.py``); 0 otherwise
    or when the guard is off (it runs two fresh interpreters: the command line turns it on)."""
    if not guard_import_order:
        return 0
    unstable = import_order_differences()
    if unstable:
        print(describe_import_order_differences(unstable), file=sys.stderr)
        return 1
    return 0


def write(
    directory: Path = DEFAULT_DIR,
    *,
    force: bool = False,
    catalogue: Catalogue = CATALOGUE,
    guard_import_order: bool = False,
) -> int:
    """Regenerate every file; refuse (return 1, write nothing) on a breaking change unless ``force``, or
    when ``guard_import_order`` finds the output depends on import order."""
    if unstable_files(guard_import_order):
        return 1
    expected = generated_files(catalogue)
    diffs = differences(directory, catalogue, expected=expected)
    breaking = [d for d in diffs if d.breaking]
    if breaking and not force:
        print("refusing to write: a published event version would change incompatibly.", file=sys.stderr)
        for d in breaking:
            print(d.describe(), file=sys.stderr)
        print(
            "Publish a new version instead (a new ...V<n+1> class plus an upcaster), or pass --force "
            "if the version was never published.",
            file=sys.stderr,
        )
        return 1
    for d in diffs:
        path = directory / d.path
        if d.status == "stale":
            path.unlink()
            print(f"removed {d.path}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[d.path], encoding="utf-8")
        print(f"{'wrote' if d.status == 'missing' else 'updated'} {d.path}")
    if not diffs:
        print(f"{len(expected)} files up to date in {directory}")
    return 0


def check(
    directory: Path = DEFAULT_DIR, *, catalogue: Catalogue = CATALOGUE, guard_import_order: bool = False
) -> int:
    """Return 1 (and say which files, and whether it is breaking) when committed files drift from code, or
    when ``guard_import_order`` finds the output depends on import order."""
    if unstable_files(guard_import_order):
        return 1
    expected = generated_files(catalogue)
    diffs = differences(directory, catalogue, expected=expected)
    if not diffs:
        print(f"{len(expected)} files match the code in {directory}")
        return 0
    for d in diffs:
        print(d.describe())
    print("Run `task schemas` (python -m shared.events.schemas write) and commit the result.")
    return 1
