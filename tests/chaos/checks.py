"""What a chaos run is checked for, once its triage has ended.

- **lost**: a file of the folder that is not in the CLI's report with a result, or an uploaded file with
  no read model of its decision;
- **doubled**: an uploaded file with more than one decision event in the session's log;
- **handled twice**: a message whose handler ran to a commit twice (its worker process said "handled"
  twice for one message key): the effects outside the log (thumbnails, verdict documents) were made again,
  which the tracking record exists to prevent;
- **stuck**: an uploaded file with no decision event, or a saga that did not end (the triage job's read
  model not terminal, or its Step Functions execution still running);
- **given up**: a message of the session that went to a dead-letter queue (``message.failed``);
- **mismatches**: the decisions (status, reason code), triage verdicts, gaps and counters that differ
  from the clean run's, and every read model that differs from its rebuild from the log.

Files are compared by their content (the sha256 of the local file), not by name: the two files with the
same bytes race for "processed", and either may win in any run, the clean one included; every other file
has bytes of its own, so its content names it. For the same reason the CLI's report is not compared with
the clean run's (its file of the pair is processed in one run, a duplicate of the harness's upload in
another): each of its entries must agree with the session's decision for that upload instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.log import EventLog
from shared.runtime.projections import fold, session_pk, view_type
from shared.runtime.read_models import ViewItem, decode
from shared.runtime.views import ViewKey
from shoebox_cli.report import Report

DECISIONS: tuple[type[Event[Any]], ...] = (c.FileProcessed, c.FileRejected, c.FileDuplicate)
TERMINAL_JOB = ("complete", "error")


class FileOutcome(msgspec.Struct, frozen=True, order=True):
    """One uploaded file's decision and verdict, named by its content."""

    content: str
    status: str
    code: str | None
    verdict: str | None = None
    reason: str | None = None


class Outcome(msgspec.Struct, frozen=True):
    """What a run decided, as the clean run and every chaos run must agree on."""

    files: list[FileOutcome]
    #: the session's counters
    counters: dict[str, int]
    job_status: str
    keep: int
    discard: int
    #: the files the triage did not judge, by content
    gaps: list[str]


class Findings(msgspec.Struct, kw_only=True):
    """What went wrong in one run (every list empty: nothing)."""

    lost: list[str] = []
    doubled: list[str] = []
    handled_twice: list[str] = []
    stuck: list[str] = []
    given_up: list[str] = []
    mismatches: list[str] = []
    views: list[str] = []

    def total(self) -> int:
        return sum(len(v) for v in msgspec.structs.asdict(self).values())

    def lines(self) -> list[str]:
        return [f"{k}: {x}" for k, v in msgspec.structs.asdict(self).items() for x in v]


class Uploaded(msgspec.Struct, frozen=True):
    """One upload of the run: the local file it came from and that file's bytes' hash."""

    path: str
    content: str


def decisions_by_key(events: Iterable[Event[Any]]) -> Counter[str]:
    """How many decision events each uploaded key has in the log."""
    return Counter(e.data.file.key for e in events if isinstance(e, DECISIONS))


def check_log(events: Sequence[Event[Any]], uploads: Mapping[str, Uploaded], findings: Findings) -> None:
    """Exactly one decision per uploaded key, and nothing given up."""
    counts = decisions_by_key(events)
    for key, up in sorted(uploads.items()):
        n = counts.get(key, 0)
        if n == 0:
            findings.stuck.append(f"{up.path}: uploaded as {key}, never decided")
        elif n > 1:
            findings.doubled.append(f"{up.path}: {n} decisions for {key}")
    for key in sorted(set(counts) - set(uploads)):
        findings.mismatches.append(f"a decision for {key}, which this run did not upload")
    for e in events:
        if isinstance(e, c.MessageFailed):
            findings.given_up.append(f"{e.data.service}: {e.data.event_type}: {e.data.error[:200]}")


def handled_twice(records: Iterable[Mapping[str, Any]], session_id: str) -> list[str]:
    """The message keys a worker process said "handled" for more than once in this session."""
    said = Counter(
        (str(r.get("service", "")), str(r["message_key"]))
        for r in records
        if r.get("message") == "handled" and r.get("session_id") == session_id and "message_key" in r
    )
    return [f"{svc}: {key} handled {n} times" for (svc, key), n in sorted(said.items()) if n > 1]


def died_after_commit(records: Iterable[Mapping[str, Any]], session_id: str) -> int:
    """The messages of this session whose worker died between committing them and saying "handled" (and
    so before acking them): no "handled" for the key, but found handled on a later delivery. (A worker
    that crashes at its own crash point says "handled" first; these are the killer's.)"""
    said: dict[str, set[str]] = {}
    for r in records:
        if r.get("session_id") == session_id and "message_key" in r:
            said.setdefault(str(r["message_key"]), set()).add(str(r.get("message")))
    return sum(1 for m in said.values() if "already handled, skipping" in m and "handled" not in m)


def check_report(
    report: Report | None,
    folder_files: Sequence[str],
    files: Sequence[Mapping[str, Any]],
    findings: Findings,
) -> None:
    """Every file of the folder in the report, each with a result, and each uploaded one's the same as
    the session's decision for its upload (``files``: the session's files from the API)."""
    if report is None:
        findings.lost.append("the CLI wrote no report")
        return
    got = {f.path: f for f in report.files}
    decided = {f["key"]: f for f in files}
    for path in folder_files:
        entry = got.get(path)
        code = entry.reason.code if entry is not None and entry.reason else None
        if entry is None:
            findings.lost.append(f"{path}: not in the report")
        elif str(entry.status) == "pending":  # uploaded, never decided (the report names it so, issue 11)
            findings.stuck.append(f"{path}: pending in the report")
        elif entry.status not in ("processed", "rejected", "duplicate"):
            findings.lost.append(f"{path}: {entry.status} in the report ({code})")
        elif entry.key is not None:
            # the code of a rejection only: the report names every duplicate's reason "duplicate"
            said = (entry.status, code if entry.status == "rejected" else None)
            there = decided.get(entry.key)
            seen = (there["status"], there.get("code")) if there is not None else None
            if said != seen:
                findings.mismatches.append(f"{path}: the report says {said}, the session {seen or 'nothing'}")


def outcome(
    *,
    files: Sequence[Mapping[str, Any]],
    results: Mapping[str, Any] | None,
    counters: Mapping[str, int],
    uploads: Mapping[str, Uploaded],
) -> Outcome:
    """The run's outcome as the user sees it through the API: the session's files and counters, and the
    triage results (``GET .../triage/{job}``)."""
    verdicts: dict[str, tuple[str, str]] = {}
    for side in ("keep", "discard"):
        for v in (results or {}).get(side, []):
            verdicts[v["key"]] = (v["verdict"], v["reason"])

    def content(key: str) -> str:
        up = uploads.get(key)
        return up.content if up is not None else f"(not uploaded by this run: {key})"

    outcomes = []
    for f in files:
        verdict, reason = verdicts.get(f["key"], (None, None))
        outcomes.append(FileOutcome(content(f["key"]), f["status"], f.get("code"), verdict, reason))
    name_to_key = {k.rsplit("/", 1)[-1]: k for k in uploads}
    gaps = sorted(content(name_to_key.get(g, g)) for g in (results or {}).get("gaps", []))
    return Outcome(
        files=sorted(outcomes),
        counters=dict(counters),
        job_status=str((results or {}).get("status", "none")),
        keep=len((results or {}).get("keep", [])),
        discard=len((results or {}).get("discard", [])),
        gaps=gaps,
    )


def compare(clean: Outcome, run: Outcome, paths: Mapping[str, str]) -> list[str]:
    """How ``run`` differs from the clean run, one line per difference (``paths``: content -> a path of
    the folder with those bytes, to name it)."""

    def name(content: str) -> str:
        return paths.get(content, content)

    out = []
    by_a: dict[str, list[FileOutcome]] = {}
    by_b: dict[str, list[FileOutcome]] = {}
    for x in clean.files:
        by_a.setdefault(x.content, []).append(x)
    for x in run.files:
        by_b.setdefault(x.content, []).append(x)
    for content in sorted(set(by_a) | set(by_b)):
        if sorted(by_a.get(content, [])) != sorted(by_b.get(content, [])):
            out.append(
                f"{name(content)}: clean {_short(by_a.get(content, []))}, "
                f"this run {_short(by_b.get(content, []))}"
            )
    for field in ("counters", "job_status", "keep", "discard", "gaps"):
        va, vb = getattr(clean, field), getattr(run, field)
        if va != vb:
            out.append(f"{field}: clean {va}, this run {vb}")
    return out


def _short(items: Sequence[Any]) -> str:
    return (
        "; ".join(
            ", ".join(
                str(v) for k, v in msgspec.structs.asdict(x).items() if k != "content" and v is not None
            )
            for x in sorted(items)
        )
        or "nothing"
    )


async def read_model_mismatches(log: EventLog, session_id: str) -> list[str]:
    """Every read model of the session that differs from what folding its log gives (``rebuild-views``
    would write): compared as their Structs, field by field."""
    events = await log.read_all(session_id)
    folded: dict[ViewKey, ViewItem] = {k: decode(v, view_type(k)) for k, v in fold(events).items()}
    stored = {ViewKey(v.pk, v.sk): v for v in await log.query_views(session_pk(session_id))}
    out = []
    for key in sorted(set(folded) | set(stored)):
        a, b = folded.get(key), stored.get(key)
        if a is None:
            out.append(f"{key.sk}: stored, but the log makes no such read model")
        elif b is None:
            out.append(f"{key.sk}: the log makes it, but it is not stored")
        elif a != b:
            fa, fb = msgspec.structs.asdict(a), msgspec.structs.asdict(b)
            diff = {f: (fa[f], fb.get(f)) for f in fa if fa[f] != fb.get(f)}
            out.append(f"{key.sk}: (rebuilt, stored) differ in {diff}")
    return out
