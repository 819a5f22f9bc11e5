"""Events tests commit to a log themselves."""

from __future__ import annotations

from typing import Any

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event


def processed(sid: str, name: str, *, source: str = "shoebox/media_process") -> Event[Any]:
    """``media.file.processed`` for ``uploads/<sid>/<name>``: a 1-byte photo whose ETag and hash are its name
    (distinct names never collide as duplicates)."""
    ref = c.FileRef(bucket="b", key=f"uploads/{sid}/{name}", name=name, size=1, etag=name)
    return make_event(
        c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=name),
        source=source,
        session_id=sid,
    )


def session_created(sid: str, *, owner: str = "u1", context: str = "Weekend in Kyoto") -> Event[Any]:
    """``session.created`` for ``sid``, as the API commits it: a consumer's event for ``sid`` is applied
    only once this is in the log (``EventLog.commit``'s ``session``)."""
    return make_event(
        c.SessionCreatedV2Data(owner=owner, trip=c.Trip(context=context)),
        source="shoebox/api",
        session_id=sid,
    )
