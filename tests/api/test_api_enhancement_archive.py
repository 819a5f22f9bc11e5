"""``GET …/enhancements/{job}/archive``: every enhanced file of a job as one streamed zip, in process on the
in-memory log and store (the items answered as the enhance service answers them, committed here)."""

from __future__ import annotations

import io
import zipfile

import anyio
import httpx

from services.api.archive import Entry, entry_name, zip_stream
from shared.events import catalogue as c
from shared.runtime.storage import InMemoryObjectStore
from tests.support.app import Api
from tests.support.paths import TESTDATA

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))[:3]


def _job(api: Api, sid: str, keys: list[str]) -> str:
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth())
    assert r.status_code == 202, r.text
    job: str = r.json()["job_id"]
    api.commit(sid, *[c.PhotoEnhanceRequestedData(job_id=job, key=k, index=i) for i, k in enumerate(keys)])
    return job


def _enhance(api: Api, sid: str, job: str, key: str, data: bytes) -> None:
    name = key.rsplit("/", 1)[-1]
    enhanced = f"enhanced/{sid}/{job}/{name}.jpg"
    api.run(api.store.put, enhanced, data, "image/jpeg")
    api.commit(
        sid, c.PhotoEnhancedData(job_id=job, key=key, enhanced_key=enhanced, changes=["exposure +0.2"])
    )


def _archive(api: Api, sid: str, job: str, sub: str = "alice") -> httpx.Response:
    return api.client.get(f"/v1/sessions/{sid}/enhancements/{job}/archive", headers=api.auth(sub))


def test_the_archive_holds_every_enhanced_file_stored_in_the_jobs_order(api: Api) -> None:
    sid = api.new_session()
    originals = [p.read_bytes() for p in PHOTOS]
    keys = [api.processed(sid, p.name, data) for p, data in zip(PHOTOS, originals, strict=True)]
    job = _job(api, sid, keys)
    # the second and third enhanced (their "enhanced" bytes: the real JPEGs); the first failed
    api.commit(sid, c.PhotoEnhanceFailedData(job_id=job, key=keys[0], code="provider_error", message="no"))
    _enhance(api, sid, job, keys[2], originals[2])
    _enhance(api, sid, job, keys[1], originals[1])

    r = _archive(api, sid, job)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="{job}-enhanced.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None  # every entry's CRC checks
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            f"{PHOTOS[1].stem}-enhanced.jpg",
            f"{PHOTOS[2].stem}-enhanced.jpg",
        ]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)  # JPEGs are not deflated
        assert zf.read(infos[0]) == originals[1] and zf.read(infos[1]) == originals[2]
    # the same name as the single file's download
    one = api.client.get(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{PHOTOS[1].name}/file", headers=api.auth()
    )
    assert f'filename="{infos[0].filename}"' in one.headers["content-disposition"]


def test_a_vanished_enhanced_file_is_left_out(api: Api) -> None:
    sid = api.new_session()
    keys = [api.processed(sid, p.name) for p in PHOTOS[:2]]
    job = _job(api, sid, keys)
    _enhance(api, sid, job, keys[0], b"\xff\xd8 first")
    _enhance(api, sid, job, keys[1], b"\xff\xd8 second")
    api.run(api.store.delete, f"enhanced/{sid}/{job}/{PHOTOS[0].name}.jpg")
    with zipfile.ZipFile(io.BytesIO(_archive(api, sid, job).content)) as zf:
        assert zf.namelist() == [f"{PHOTOS[1].stem}-enhanced.jpg"]
        assert zf.read(zf.namelist()[0]) == b"\xff\xd8 second"


def test_a_job_with_no_enhanced_file_an_unknown_job_and_another_users_session_are_404(api: Api) -> None:
    sid = api.new_session()
    keys = [api.processed(sid, p.name) for p in PHOTOS[:2]]
    job = _job(api, sid, keys)
    api.commit(sid, c.PhotoEnhanceFailedData(job_id=job, key=keys[0], code="provider_error", message="no"))
    nothing = _archive(api, sid, job)
    assert nothing.status_code == 404
    assert nothing.json()["detail"] == f"no enhanced file in enhancement {job} yet"
    assert _archive(api, sid, "enh-none").status_code == 404
    _enhance(api, sid, job, keys[1], b"\xff\xd8 x")
    assert _archive(api, sid, job).status_code == 200
    assert _archive(api, sid, job, sub="bob").status_code == 404  # another user: as if it did not exist


def test_no_token_is_401(api: Api) -> None:
    sid = api.new_session()
    r = api.client.get(f"/v1/sessions/{sid}/enhancements/enh-x/archive")
    assert r.status_code == 401


def test_entry_names_stay_unique() -> None:
    taken: set[str] = set()
    names = [
        entry_name(n, key, taken)
        for n, key in (
            ("a.jpg", "e/a.jpg"),
            ("a.heic", "e/a.jpg"),
            ("A.png", "e/A.jpg"),
            ("b", "e/b.jpg"),
            ("a-enhanced.jpg", "e/a-enhanced.jpg"),
            ("a.mov", "e/a.mp4"),  # a video comes back MP4: its own name
            ("a.mp4", "e/a.mp4"),
        )
    ]
    assert names == [
        "a-enhanced.jpg",
        "a-enhanced-2.jpg",
        "A-enhanced-3.jpg",
        "b-enhanced.jpg",
        "a-enhanced-enhanced.jpg",
        "a-enhanced.mp4",
        "a-enhanced-2.mp4",
    ]


def test_the_zip_is_sent_as_it_is_written_never_whole() -> None:
    """Each piece the stream yields is at most a chunk and a header: the zip is never held whole."""
    store = InMemoryObjectStore()
    size = 3 * (1 << 20) + 5  # four reads of a megabyte
    files = {f"enhanced/s/{n}.jpg": bytes([n]) * size for n in range(3)}

    async def pieces() -> list[bytes]:
        for key, data in files.items():
            await store.put(key, data, "image/jpeg")
        entries = [Entry(f"{n}-enhanced.jpg", key, size) for n, key in enumerate(files)]
        return [p async for p in zip_stream(store, entries)]

    got = anyio.run(pieces)
    assert max(len(p) for p in got) <= (1 << 20) + 200
    with zipfile.ZipFile(io.BytesIO(b"".join(got))) as zf:
        assert zf.testzip() is None
        assert [zf.read(n) for n in zf.namelist()] == list(files.values())
