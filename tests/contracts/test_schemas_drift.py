"""The committed contracts (schemas/) match the code, and no code change breaks a published version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from shared.events import schemas
from shared.events.codec import CATALOGUE
from shared.events.schemas import (
    ASYNCAPI_FILE,
    DEFAULT_DIR,
    PRODUCERS,
    breaking_changes,
    event_schema,
    generated_files,
    schema_filename,
)
from shared.events.selection_results import Exclusion, Pick, SceneGroup, SelectionResults

REGENERATE = "run `task schemas` (python -m shared.events.schemas write) and commit schemas/"
PUBLISHED = sorted((DEFAULT_DIR / "events").glob("*.json"))
FAMILIES = sorted({cls.family() for cls in CATALOGUE.events})


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _resolve_local(document: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {part!r} is not in an object"
        assert part in node, f"{ref} does not resolve ({part!r} missing)"
        node = node[part]
    return node


@pytest.fixture(scope="module")
def asyncapi() -> Any:
    return _load(DEFAULT_DIR / ASYNCAPI_FILE)


# --------------------------------------------------------------------------- drift
def test_committed_schemas_equal_freshly_generated_ones() -> None:
    stale = [
        rel
        for rel, content in generated_files().items()
        if not (DEFAULT_DIR / rel).is_file() or (DEFAULT_DIR / rel).read_text(encoding="utf-8") != content
    ]
    assert not stale, f"schemas/ is out of date with the code ({', '.join(stale)}): {REGENERATE}"


@pytest.mark.parametrize("cls", CATALOGUE.events, ids=lambda c: c.type_name())
def test_every_event_class_has_a_committed_schema(cls: Any) -> None:
    path = DEFAULT_DIR / schema_filename(cls)
    assert path.is_file(), f"no committed schema for {cls.type_name()}: {REGENERATE}"
    committed = _load(path)
    assert committed["$id"] == cls.schema_uri()
    assert committed["title"] == cls.type_name()


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_code_does_not_break_a_published_version(path: Path) -> None:
    cls = CATALOGUE.type_of(path.stem)
    assert cls is not None, (
        f"{path.stem} was published but is no longer in the catalogue: old events of it are still in the "
        "log. Keep the class (and its upcaster)."
    )
    changes = breaking_changes(_load(path), event_schema(cls))
    assert not changes, (
        f"this change breaks the published version {path.stem}:\n  "
        + "\n  ".join(changes)
        + "\nA breaking change is a new version: a new ...V<n+1> class and an upcaster from this one."
    )


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_committed_schema_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    committed = _load(path)
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(committed)


def test_generation_is_deterministic() -> None:
    for content in generated_files().values():
        assert content.endswith("}\n")
        assert json.dumps(json.loads(content), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == content


# --------------------------------------------------------------------------- AsyncAPI
def test_asyncapi_document_is_version_3_0_0_with_info(asyncapi: Any) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["servers"]["eventbridge"]["host"]
    assert asyncapi["servers"]["eventbridge"]["protocol"]


def test_every_family_has_a_channel_addressed_by_its_detail_type(asyncapi: Any) -> None:
    addresses = {ch["address"]: ch for ch in asyncapi["channels"].values()}
    assert sorted(addresses) == FAMILIES
    for cls in CATALOGUE.events:
        channel = addresses[cls.family()]
        names = [_resolve_local(asyncapi, m["$ref"])["name"] for m in channel["messages"].values()]
        assert cls.type_name() in names, f"{cls.type_name()} is not a message of its family's channel"


def test_every_message_payload_ref_resolves_to_a_committed_schema_file(asyncapi: Any) -> None:
    messages = asyncapi["components"]["messages"]
    assert sorted(m["name"] for m in messages.values()) == sorted(c.type_name() for c in CATALOGUE.events)
    for message in messages.values():
        assert message["contentType"] == "application/cloudevents+json"
        payload = message["payload"]
        ref = payload.get("schema", payload)["$ref"]
        target = (DEFAULT_DIR / ASYNCAPI_FILE).parent / ref
        assert target.is_file(), f"{message['name']}: payload $ref {ref} does not exist"
        assert _load(target)["title"] == message["name"]


def test_every_internal_ref_in_the_asyncapi_document_resolves(asyncapi: Any) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    internal = [r for r in refs(asyncapi) if r.startswith("#")]
    assert internal
    for ref in internal:
        _resolve_local(asyncapi, ref)


def test_every_family_has_a_send_operation_naming_its_producer(asyncapi: Any) -> None:
    assert sorted(PRODUCERS) == FAMILIES, (
        "PRODUCERS in shared/events/schemas/asyncapi.py must list every family"
    )
    by_family: dict[str, Any] = {}
    for operation in asyncapi["operations"].values():
        assert operation["action"] == "send"
        channel = _resolve_local(asyncapi, operation["channel"]["$ref"])
        by_family[channel["address"]] = operation
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            name = _resolve_local(asyncapi, _resolve_local(asyncapi, message["$ref"])["$ref"])["name"]
            assert name == CATALOGUE.current[channel["address"]].type_name()
    assert sorted(by_family) == FAMILIES
    for family, operation in by_family.items():
        assert PRODUCERS[family] in operation["description"]


# --------------------------------------------------------------------------- the CLI
def test_write_then_check_reports_no_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["write", "--dir", str(tmp_path)]) == 0
    assert schemas.main(["check", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "events" / "shoebox.media.file.processed.v1.json").is_file()
    assert "match the code" in capsys.readouterr().out


def test_check_reports_a_compatible_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schemas.main(["write", "--dir", str(tmp_path)])
    path = tmp_path / "events" / "shoebox.triage.failed.v1.json"
    path.write_text(
        path.read_text().replace('"description"', '"$comment": "edited by hand",\n"description"', 1)
    )
    assert schemas.main(["check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "events/shoebox.triage.failed.v1.json: differs from the code (compatible)" in out
    assert "task schemas" in out


def test_write_refuses_a_breaking_change_to_a_published_version_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schemas.main(["write", "--dir", str(tmp_path)])
    path = tmp_path / "events" / "shoebox.media.file.processed.v1.json"
    published = _load(path)
    # As if the published version had a field the code has since removed.
    published["$defs"]["FileRef"]["properties"]["region"] = {"type": "string"}
    path.write_text(json.dumps(published))
    before = path.read_text()

    assert schemas.main(["check", "--dir", str(tmp_path)]) == 1
    assert "$.data.file.region: property removed" in capsys.readouterr().out
    assert schemas.main(["write", "--dir", str(tmp_path)]) == 1
    assert "$.data.file.region: property removed" in capsys.readouterr().err
    assert path.read_text() == before

    assert schemas.main(["write", "--force", "--dir", str(tmp_path)]) == 0
    assert schemas.main(["check", "--dir", str(tmp_path)]) == 0


def test_a_removed_published_version_is_breaking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schemas.main(["write", "--dir", str(tmp_path)])
    (tmp_path / "events" / "shoebox.media.file.vanished.v1.json").write_text("{}\n")
    assert schemas.main(["check", "--dir", str(tmp_path)]) == 1
    assert "shoebox.media.file.vanished.v1.json: committed, but no event class" in capsys.readouterr().out
    assert schemas.main(["write", "--dir", str(tmp_path)]) == 1
    assert (tmp_path / "events" / "shoebox.media.file.vanished.v1.json").exists()


def test_a_selection_results_file_validates_against_its_published_schema() -> None:
    """Other teams read the results file ``selection.completed`` names; the committed schema takes what the
    service writes (an edited file too) and refuses a category it does not know."""
    schema = _load(DEFAULT_DIR / "selection-results.schema.json")
    Draft202012Validator.check_schema(schema)
    results = SelectionResults(
        job_id="sel-1",
        attempt=1,
        provider="offline",
        count=1,
        selected=[
            Pick(key="uploads/s/a.jpg", name="a.jpg", rank=1, scene="s1", reason="sharp", by_person=True)
        ],
        excluded=[
            Exclusion(
                key="uploads/s/b.jpg",
                name="b.jpg",
                category="near_duplicate",
                reason="a near copy",
                duplicate_of="uploads/s/a.jpg",
            )
        ],
        scene_groups=[SceneGroup(id="s1", label="Scene 1", items=["uploads/s/a.jpg", "uploads/s/b.jpg"])],
        revision=1,
    )
    document = json.loads(msgspec.json.encode(results))
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(document)) == []
    document["excluded"][0]["category"] = "blurry"
    assert list(validator.iter_errors(document))
