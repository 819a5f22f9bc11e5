"""`shoebox rebuild-views` against the emulator of a running stack (found through its stack.json): a
corrupted and a deleted read model are rebuilt equal to what the incremental commits made."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.projections import counters_key, file_key, session_pk
from shared.runtime.read_models import ViewItem, ViewShapeError
from shoebox_cli.main import main
from tests.support.events import processed
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack


def _session(stack: RunningStack) -> str:
    sid = str(uuid.uuid4())
    created = c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="x"))
    events: list[Any] = [make_event(created, source="t", session_id=sid)]
    events += [processed(sid, name) for name in ("a.jpg", "b.jpg")]
    for event in events:  # one commit each, as the services make them
        stack.portal.call(stack.stack.log.commit, [event])
    return sid


def _views(stack: RunningStack, sid: str) -> list[ViewItem]:
    return stack.portal.call(lambda: stack.stack.log.query_views(session_pk(sid)))


def _damage(stack: RunningStack, sid: str) -> None:
    """The counters retyped by hand, one file's item deleted."""
    client, table = stack.stack.clients.dynamodb, stack.settings.names.views_table
    counters = counters_key(sid)
    lost = file_key(sid, f"uploads/{sid}/a.jpg")

    async def damage() -> None:
        await client.update_item(
            TableName=table,
            Key={"pk": {"S": counters.pk}, "sk": {"S": counters.sk}},
            UpdateExpression="SET #processed = :s",
            ExpressionAttributeNames={"#processed": "processed"},  # a reserved word
            ExpressionAttributeValues={":s": {"S": "two"}},
        )
        await client.delete_item(TableName=table, Key={"pk": {"S": lost.pk}, "sk": {"S": lost.sk}})

    stack.portal.call(damage)


def test_rebuild_views_repairs_named_sessions_and_all(
    emulator_only: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = emulator_only.stack.config.state_dir
    assert (Path(state_dir) / "stack.json").is_file()
    sids = [_session(emulator_only) for _ in range(2)]
    incremental = {sid: _views(emulator_only, sid) for sid in sids}
    for sid in sids:
        _damage(emulator_only, sid)
    with pytest.raises(ViewShapeError):
        _views(emulator_only, sids[0])

    assert main(["rebuild-views", sids[0], "--state-dir", state_dir]) == 0
    out = capsys.readouterr().out
    assert f"{sids[0]}: 3 events folded" in out and "1 of 1 sessions rebuilt" in out
    assert _views(emulator_only, sids[0]) == incremental[sids[0]]
    with pytest.raises(ViewShapeError):
        _views(emulator_only, sids[1])  # not named: not rebuilt

    assert main(["rebuild-views", "--all", "--state-dir", state_dir]) == 0
    out = capsys.readouterr().out
    assert f"{sids[1]}: 3 events folded" in out
    assert _views(emulator_only, sids[1]) == incremental[sids[1]]


def test_rebuild_views_refuses_an_unknown_session(
    emulator_only: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = emulator_only.stack.config.state_dir
    nowhere = str(uuid.uuid4())
    assert main(["rebuild-views", nowhere, "--state-dir", state_dir]) == 1
    assert f"no events in the log for session(s) {nowhere}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["rebuild-views"], ["rebuild-views", "s1", "--all"]])
def test_rebuild_views_takes_sessions_or_all(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
