"""``shoebox process`` against the embedded stack, driving only the public API."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from jsonschema import Draft202012Validator

from deploy.local.emulator import free_port
from shoebox_cli import process as process_module
from shoebox_cli import report, state
from shoebox_cli.main import main
from shoebox_cli.process import Hooks, Job, ProcessOptions
from shoebox_cli.ui import PlainUi
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

FINAL_EVENTS = (
    "shoebox.media.file.processed.v1",
    "shoebox.media.file.rejected.v2",
    "shoebox.media.file.duplicate.v1",
)


def copy(rel: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TESTDATA / rel, dest)


@pytest.fixture
def trip(tmp_path: Path) -> Path:
    """A trip folder: real photos and a video, a corrupt JPEG, an exact duplicate, two files with the same
    name and different bytes, a text file named .jpg, a text file, a camera RAW, a hidden file."""
    d = tmp_path / "trip"
    copy("photos/gps/DSCN0010.jpg", d / "day1" / "DSCN0010.jpg")
    copy("photos/gps/DSCN0012.jpg", d / "day1" / "DSCN0012.jpg")
    copy("photos/cameras/Canon_40D.jpg", d / "day2" / "DSCN0012.jpg")  # same name, other bytes
    copy("photos/gps/DSCN0010.jpg", d / "day2" / "again.jpg")  # the same bytes as day1/DSCN0010.jpg
    copy("photos/broken/corrupted.jpg", d / "broken" / "corrupted.jpg")
    copy("videos/odd/minimal.mp4", d / "clip.mp4")
    (d / "notes.jpg").write_text("not a photo at all\n")
    (d / "readme.txt").write_text("packing list\n")
    (d / "IMG_0001.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(64))  # camera RAW
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return d


def session_events(api: str, session_id: str, token: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{api}/v1/sessions/{session_id}/events",
            params={"after": after, "limit": 100},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        events += page["events"]
        if page["next_after"] is None:
            return events
        after = page["next_after"]


def final_events_per_key(api: str, session_id: str, token: str) -> Counter[str]:
    return Counter(
        str(e["data"]["file"]["key"])
        for e in session_events(api, session_id, token)
        if e["type"] in FINAL_EVENTS
    )


@pytest.mark.stack
def test_process_uploads_a_folder_and_reports_every_file_once(
    embedded_stack: RunningStack,
    trip: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the status table's width when stdout is not a terminal
    out = tmp_path / "out"
    token = embedded_stack.token()
    code = main(
        [
            "process",
            str(trip),
            "--api",
            embedded_stack.api_url,
            "--token",
            token,
            "--out",
            str(out),
            "--context",
            "Test <trip>",
            "--concurrency",
            "3",
            "--timeout",
            "60",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"Report: {out / 'report.html'}" in printed.out

    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    schema = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert not list(Draft202012Validator(schema).iter_errors(document))

    files = {f["path"]: f for f in document["files"]}
    # every input file once, in input order; no hidden ones
    assert [f["path"] for f in document["files"]] == [
        "IMG_0001.CR2",
        "broken/corrupted.jpg",
        "clip.mp4",
        "day1/DSCN0010.jpg",
        "day1/DSCN0012.jpg",
        "day2/DSCN0012.jpg",
        "day2/again.jpg",
        "notes.jpg",
        "readme.txt",
    ]
    status = {p: f["status"] for p, f in files.items()}
    assert status == {
        "IMG_0001.CR2": "rejected",  # not a type Shoebox reads: never sent (nor asked about)
        "broken/corrupted.jpg": "rejected",  # starts like a JPEG; its image data is corrupt
        "clip.mp4": "processed",
        "day1/DSCN0010.jpg": "processed",
        "day1/DSCN0012.jpg": "processed",
        "day2/DSCN0012.jpg": "processed",
        "day2/again.jpg": "duplicate",
        "notes.jpg": "rejected",  # uploaded; the service reads its content and refuses it
        "readme.txt": "rejected",  # not a type Shoebox reads (text/plain): never sent
    }
    assert files["day2/again.jpg"]["reason"] == {
        "code": "duplicate",
        "message": "same bytes as day1/DSCN0010.jpg",
    }
    assert files["day2/again.jpg"]["key"] is None
    assert files["notes.jpg"]["reason"]["code"] == "unsupported_type"
    assert files["notes.jpg"]["key"] is not None
    for path in ("readme.txt", "IMG_0001.CR2"):
        assert files[path]["reason"]["code"] == "unsupported_type", path
        assert "not a photo or video type Shoebox reads" in files[path]["reason"]["message"], path
        assert files[path]["key"] is None, path
    assert "'.CR2' files" in files["IMG_0001.CR2"]["reason"]["message"]
    assert "IMG_0001.CR2: rejected (unsupported_type)" in printed.out + printed.err
    assert files["clip.mp4"]["kind"] == "video" and files["day1/DSCN0010.jpg"]["kind"] == "photo"
    assert files["broken/corrupted.jpg"]["reason"]["code"] == "undecodable"
    assert document["counts"] == {
        "files": 9,
        "processed": 4,
        "rejected": 4,
        "duplicate": 1,
        "pending": 0,
        "missing": 0,
    }
    for path in ("clip.mp4", "day1/DSCN0010.jpg"):  # thumbnails fetched through the API, beside the report
        thumb = files[path]["thumbnail"]
        assert thumb and (out / thumb).read_bytes()[:3] == b"\xff\xd8\xff", path
    assert document["session"]["context"] == "Test <trip>"
    assert document["version"] == 5
    # triage ran after processing: a verdict on every processed file, none on the others
    for path, f in files.items():
        if f["status"] == "processed":
            assert f["triage"]["verdict"] in ("keep", "discard") and f["triage"]["reason"], path
        else:
            assert f["triage"] is None, path
    # the two files called DSCN0012.jpg were uploaded under two names
    assert files["day1/DSCN0012.jpg"]["key"] != files["day2/DSCN0012.jpg"]["key"]
    # exactly one result per uploaded file in the session's log: nothing was uploaded twice
    sid = document["session"]["id"]
    keys = [f["key"] for f in document["files"] if f["key"]]
    assert final_events_per_key(embedded_stack.api_url, sid, token) == Counter(keys)

    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Test &lt;trip&gt;" in page and "day2/again.jpg" in page

    # status and events show the same session
    assert main(["status", sid, "--api", embedded_stack.api_url, "--token", token]) == 0
    shown = capsys.readouterr().out
    assert "notes.jpg" in shown and "unsupported_type" in shown and "DSCN0012 (2).jpg" in shown
    assert main(["events", sid, "--api", embedded_stack.api_url, "--token", token]) == 0
    shown = capsys.readouterr().out
    assert "session.created.v2" in shown and "media.file.rejected.v2" in shown and "“Test <trip>”" in shown
    # the session's creation, each upload's record as pending and its result
    assert f"{len(session_events(embedded_stack.api_url, sid, token))} events" in shown
    assert "upload.received.v1" in shown


@pytest.mark.stack
def test_an_interrupted_job_resumes_the_same_session_and_uploads_nothing_twice(
    embedded_stack: RunningStack,
    trip: Path,
    tmp_path: Path,
) -> None:
    api, token = embedded_stack.api_url, embedded_stack.token()
    out = tmp_path / "out"
    options = ProcessOptions(
        directory=trip, out=out, context="Resumed", api=api, token=token, concurrency=1, timeout_s=60
    )
    uploads: Counter[str] = Counter()

    async def interrupted_after_two_uploads() -> None:
        with anyio.CancelScope() as scope:  # what Ctrl-C does to the job: its task is cancelled

            async def on_uploaded(path: str) -> None:
                uploads[path] += 1
                if sum(uploads.values()) == 2:
                    scope.cancel()

            await Job(options, PlainUi(), Hooks(on_uploaded=on_uploaded)).run()
        assert scope.cancelled_caught

    anyio.run(interrupted_after_two_uploads)
    first = state.load(out)
    assert first is not None and len(first.uploads) == 2
    assert not (out / "report.json").exists()

    async def on_uploaded(path: str) -> None:
        uploads[path] += 1

    async def resumed() -> process_module.Outcome:
        return await Job(options, PlainUi(), Hooks(on_uploaded=on_uploaded)).run()

    outcome = anyio.run(resumed)
    assert outcome.resumed
    assert outcome.report.session.id == first.session_id
    # six files have their own bytes and a media type: each went up exactly once over the two runs
    assert sorted(uploads) == [
        "broken/corrupted.jpg",
        "clip.mp4",
        "day1/DSCN0010.jpg",
        "day1/DSCN0012.jpg",
        "day2/DSCN0012.jpg",
        "notes.jpg",
    ]
    assert set(uploads.values()) == {1}
    assert outcome.report.counts == report.Counts(files=9, processed=4, rejected=4, duplicate=1, missing=0)
    assert final_events_per_key(api, first.session_id, token) == Counter(
        f.key for f in outcome.report.files if f.key
    )

    # a third run finds everything done: no upload, the same complete report
    again = anyio.run(resumed)
    assert sum(uploads.values()) == 6
    assert again.report.counts == outcome.report.counts and again.report.session.id == first.session_id


@pytest.mark.stack
def test_a_job_that_times_out_reports_what_it_has_and_which_files_are_missing(
    embedded_stack: RunningStack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = tmp_path / "trip"
    copy("photos/gps/DSCN0021.jpg", d / "a.jpg")
    copy("photos/gps/DSCN0025.jpg", d / "b.jpg")

    async def never_done(self: Job, client: object) -> None:
        await anyio.sleep_forever()

    monkeypatch.setattr(Job, "_wait_for_results", never_done)
    out = tmp_path / "out"
    code = main(
        [
            "process",
            str(d),
            "--api",
            embedded_stack.api_url,
            "--token",
            embedded_stack.token(),
            "--out",
            str(out),
            "--timeout",
            "2",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0
    assert "Missing (no result before the job ended): a.jpg, b.jpg" in printed.out
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [(f["status"], f["reason"]["code"]) for f in document["files"]] == [("missing", "no_result")] * 2


def test_process_says_in_one_line_why_it_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["process", str(tmp_path / "nope"), "--api", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err.strip() == f"shoebox: no such folder: {tmp_path / 'nope'}"

    (tmp_path / "empty").mkdir()
    assert main(["process", str(tmp_path / "empty"), "--api", "http://127.0.0.1:9"]) == 1
    assert "no files in" in capsys.readouterr().err

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hi")
    assert main(["process", str(tmp_path / "docs"), "--api", "http://127.0.0.1:9"]) == 1
    assert "no photos or videos Shoebox reads in" in capsys.readouterr().err

    (tmp_path / "docs" / "b.jpg").write_bytes(b"\xff\xd8\xff")
    port = free_port()
    assert (
        main(
            [
                "process",
                str(tmp_path / "docs"),
                "--api",
                f"http://127.0.0.1:{port}",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shoebox: the Shoebox API is unreachable: cannot reach")


def test_ctrl_c_stops_with_one_line_and_exit_130(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def interrupted(self: Job) -> None:
        self.session_id = "9b8d6d47-da7c-462d-9b07-8ddf3fdcf4de"
        raise KeyboardInterrupt

    monkeypatch.setattr(Job, "run", interrupted)
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff")
    assert (
        main(["process", str(tmp_path), "--api", "http://127.0.0.1:9", "--out", str(tmp_path / "o")]) == 130
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "shoebox: interrupted; run the same command again to resume session "
        "9b8d6d47-da7c-462d-9b07-8ddf3fdcf4de"
    ]


def test_status_says_when_no_stack_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["status", "9b8d6d47-da7c-462d-9b07-8ddf3fdcf4de", "--api", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is `shoebox up` running?" in err[0]
