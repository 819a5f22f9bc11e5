"""The public API as a test drives it over HTTP: a session, an upload through its presigned URL, a file's
status."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


def new_session(api: str, context: str = "Weekend in Kyoto", *, headers: Mapping[str, str]) -> str:
    r = httpx.post(f"{api}/v1/sessions", json={"context": context}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


def upload(
    api: str,
    session_id: str,
    name: str,
    data: bytes,
    content_type: str = "image/jpeg",
    *,
    headers: Mapping[str, str],
) -> str:
    r = httpx.post(
        f"{api}/v1/sessions/{session_id}/uploads",
        json={"name": name, "content_type": content_type, "size": len(data)},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    put = httpx.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    return str(ticket["key"])


def file_status(
    api: str, session_id: str, key: str, *, headers: Mapping[str, str]
) -> dict[str, object] | None:
    r = httpx.get(f"{api}/v1/sessions/{session_id}", headers=headers)
    assert r.status_code == 200, r.text
    return next((f for f in r.json()["files"] if f["key"] == key), None)


def decided_status(
    api: str, session_id: str, key: str, *, headers: Mapping[str, str]
) -> dict[str, object] | None:
    """The file's status once it is decided (None while it is absent or ``pending``), for ``eventually``."""
    found = file_status(api, session_id, key, headers=headers)
    return found if found is not None and found["status"] != "pending" else None
