"""The ``shoebox-events`` wheel as another team gets it: built from ``shared/events``, installed into a fresh
virtual environment with nothing else (the example consumer adds boto3, its own AWS client), then the example
consumer (examples/consumer/consume.py) run there against the embedded stack, on a real session's events.

The other team's side is done as docs/consuming-events.md says: a queue of its own with a DLQ and a queue
policy, and a rule on our bus matching our ``source`` prefix and the ``detail-type`` values it wants.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from shared.events import CATALOGUE, SOURCE_PREFIX, __version__
from shared.events.schemas import PRODUCERS
from shared.events.schemas.asyncapi import sources
from tests.support.api import new_session, upload
from tests.support.paths import ROOT, TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack  # ~35 s with the stack start: not `slow`

PACKAGE = ROOT / "packages" / "shoebox-events"
EXAMPLE = ROOT / "examples" / "consumer" / "consume.py"
#: what a session below publishes, in the order it happens
SESSION_TYPES = [
    "shoebox.session.created.v2",
    "shoebox.triage.initialized.v1",
    "shoebox.media.file.processed.v1",
    "shoebox.upload.finalized.v1",
    "shoebox.triage.requested.v1",
    "shoebox.triage.completed.v1",
]
PHOTOS = ["DSCN0010.jpg", "DSCN0012.jpg", "DSCN0021.jpg"]


def uv() -> str:
    """The uv that bootstrap installs (``.tools/bin/uv``), else one on the PATH."""
    found = ROOT / ".tools" / "bin" / "uv"
    if found.is_file():
        return str(found)
    on_path = shutil.which("uv")
    assert on_path is not None, "uv is needed to build the wheel: run scripts/bootstrap"
    return on_path


def run(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(out: Path, pyproject_dir: Path = PACKAGE) -> Path:
    """``uv build --wheel`` straight from the package directory (its files are mapped from outside it)."""
    run(uv(), "build", "--wheel", str(pyproject_dir), "--out-dir", str(out), "-q", cwd=ROOT)
    (wheel,) = out.glob("shoebox_events-*.whl")
    return wheel


def fresh_venv(where: Path, *requirements: str) -> Path:
    """A virtual environment with ``requirements`` only (from the registry, or a wheel path); its python."""
    run(uv(), "venv", "-q", "--python", sys.executable, str(where), cwd=where.parent)
    python = where / "bin" / "python"
    run(uv(), "pip", "install", "-q", "--python", str(python), *requirements, cwd=where.parent)
    return python


def installed(python: Path) -> set[str]:
    out = run(uv(), "pip", "list", "--format", "json", "--python", str(python), cwd=python.parent)
    return {p["name"].lower() for p in json.loads(out)}


@dataclass(frozen=True)
class Consumer:
    wheel: Path
    python: Path
    scratch: Path  # a working directory outside the repository: nothing there to import by accident


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Consumer:
    base = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(base / "dist")
    python = fresh_venv(base / "venv", str(wheel), "boto3")
    scratch = base / "scratch"
    scratch.mkdir()
    return Consumer(wheel, python, scratch)


# --------------------------------------------------------------------------- the wheel alone
def test_the_wheel_holds_the_contracts_under_their_own_name_and_the_documents(consumer: Consumer) -> None:
    names = set(zipfile.ZipFile(consumer.wheel).namelist())
    modules = {n for n in names if n.endswith(".py")}
    expected = {
        f"shoebox_events/{p.name}" for p in (ROOT / "shared" / "events").glob("*.py")
    }  # every contracts module; the generators (shared/events/schemas/) stay out
    assert modules == expected
    assert not any(n.startswith(("shared/", "shoebox_events/schemas/")) for n in names)
    drafts = {n for n in names if n.startswith("shoebox_events/published/events-draft4/")}
    assert len(drafts) == len(list((ROOT / "schemas" / "events-draft4").glob("*.json")))
    assert "shoebox_events/published/asyncapi.json" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [
        line
        for line in zipfile.ZipFile(consumer.wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert [re.split(r"[<>=!~ ;]", r.split(":", 1)[1].strip())[0] for r in requires] == ["msgspec"]


def test_the_venv_holds_the_wheel_msgspec_and_boto3_only(consumer: Consumer, tmp_path: Path) -> None:
    boto3_alone = installed(fresh_venv(tmp_path / "boto3-only", "boto3"))
    assert installed(consumer.python) - boto3_alone == {"shoebox-events", "msgspec"}


def test_the_wheel_imports_as_shoebox_events_and_never_as_shared(consumer: Consumer) -> None:
    probe = (
        "import json, shoebox_events as e\n"
        "from shoebox_events import catalogue as c\n"
        "print(json.dumps([e.__version__, e.SOURCE_PREFIX, len(e.CATALOGUE.events),"
        " e.event_json_schema(c.FileProcessed, draft4=True)['$schema']]))\n"
    )
    out = json.loads(run(str(consumer.python), "-c", probe, cwd=consumer.scratch))
    assert out == [
        __version__,
        SOURCE_PREFIX,
        len(CATALOGUE.events),
        "http://json-schema.org/draft-04/schema#",
    ]
    refused = subprocess.run(
        [str(consumer.python), "-c", "import shared"], cwd=consumer.scratch, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "No module named 'shared'" in refused.stderr


def test_a_wheel_built_without_a_module_fails_to_import(tmp_path: Path) -> None:
    """The check above can fail: the same package with one module left out of the mapping does not import."""
    broken = tmp_path / "shoebox-events"
    shutil.copytree(PACKAGE, broken)
    pyproject = broken / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8").replace("../../", f"{ROOT.as_posix()}/")
    lines = [line for line in text.splitlines() if "shared/events/messages.py" not in line]
    pyproject.write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = fresh_venv(tmp_path / "venv", str(build_wheel(tmp_path / "dist", broken)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    failed = subprocess.run(
        [str(python), "-c", "import shoebox_events"], cwd=scratch, capture_output=True, text=True
    )
    assert failed.returncode != 0
    assert "No module named 'shoebox_events.messages'" in failed.stderr


# --------------------------------------------------------------------------- another team's consumer
def subscribe(stack: RunningStack, name: str, families: list[str]) -> str:
    """What another team does (docs/consuming-events.md): its queue, a DLQ, a queue policy for the rule, and
    a rule on our bus. Returns the queue URL."""
    aws = stack.settings.aws
    session = boto3.Session(
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
        region_name=aws.region,
    )
    sqs = session.client("sqs", endpoint_url=aws.endpoint)
    events = session.client("events", endpoint_url=aws.endpoint)
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [{"prefix": SOURCE_PREFIX}], "detail-type": families}
    bus = stack.settings.names.bus
    rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return str(url)


class Lines:
    """The example consumer's stdout, a line at a time, read on a thread (a pipe has no timeout)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (line := self.lines.get(timeout=180)) is not None:
            yield json.loads(line)


def test_the_example_consumer_decodes_a_real_session_from_its_own_queue(
    consumer: Consumer, embedded_stack: RunningStack
) -> None:
    families = sorted({t.rsplit(".", 1)[0] for t in SESSION_TYPES})
    url = subscribe(embedded_stack, f"other-team-{uuid.uuid4().hex[:8]}", families)
    aws = embedded_stack.settings.aws
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": str(aws.endpoint),
        "AWS_ACCESS_KEY_ID": str(aws.access_key_id),
        "AWS_SECRET_ACCESS_KEY": str(aws.secret_access_key),
        "AWS_DEFAULT_REGION": aws.region,
    }
    process = subprocess.Popen(
        [str(consumer.python), str(EXAMPLE), "--queue-url", url],
        cwd=consumer.scratch,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        api, h = embedded_stack.api_url, embedded_stack.auth("other-team")
        sid = new_session(api, "Lisbon with the other team", headers=h)
        r = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": len(PHOTOS)}, headers=h)
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        for name in PHOTOS:
            upload(api, sid, name, (TESTDATA / "photos" / "gps" / name).read_bytes(), headers=h)
        r = httpx.post(
            f"{api}/v1/sessions/{sid}/triage/{job}/finalize", json={"uploaded": len(PHOTOS)}, headers=h
        )
        assert r.status_code == 200, r.text
        mine: list[dict[str, Any]] = []
        for line in Lines(process):
            if line["session"] == sid:  # other tests' sessions publish on the same bus
                mine.append(line)
            if {e["type"] for e in mine} >= set(SESSION_TYPES):
                break
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    types = {e["type"] for e in mine}
    assert types >= set(SESSION_TYPES), f"{sorted(types)}\n{stderr}"
    assert types <= {f"{f}.v{v}" for f in families for v in (1, 2)}  # only what the rule asked for
    assert sorted(e["file"] for e in mine if e["type"] == "shoebox.media.file.processed.v1") == PHOTOS
    created = next(e for e in mine if e["type"] == "shoebox.session.created.v2")
    assert created["trip"] == "Lisbon with the other team"
    # every event came with the ``source`` the AsyncAPI document declares for its family
    for e in mine:
        cls = CATALOGUE.type_of(e["type"])
        assert cls is not None
        assert e["source"] in sources(PRODUCERS[cls.family()]), e
    completed = next(e for e in mine if e["type"] == "shoebox.triage.completed.v1")
    assert completed["keep"] + completed["discard"] == len(PHOTOS)
    assert f"shoebox-events {__version__}: reading" in stderr
    print(f"the example consumer decoded {len(mine)} events of the session: {sorted(types)}")
