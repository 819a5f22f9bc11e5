"""A video item's clips for the page's ``<video>`` (``GET …/items/{name}/media``: presigned GETs that expire)
and the enhanced file's download (``…/file``: MP4 for a video, JPEG for a photo), in process: the items
answered as the video service will answer them (committed here), the URLs read through the in-memory
store (``tests/unit/test_store_contract.py`` holds it to S3's presigned GETs)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from shared.events import catalogue as c
from shared.runtime.inbound import THUMBNAILS, upload_key
from tests.support.app import Api
from tests.support.paths import TESTDATA

CLIP = TESTDATA / "videos/real/bikes.mp4"
PHOTO = TESTDATA / "photos/gps/DSCN0010.jpg"
RENDERED = b"\x00\x00\x00\x18ftypisom the enhanced clip"
PREVIEW = b"\x00\x00\x00\x18ftypisom the 720p preview"


def _video(api: Api, sid: str, name: str, *, preview: bool = True) -> str:
    """A processed video: the original, its thumbnail and (unless not) its preview in the store."""
    key = upload_key(sid, name)
    data = CLIP.read_bytes()
    thumbnail, preview_key = f"{THUMBNAILS}/{sid}/{name}.jpg", f"previews/{sid}/{name}.mp4"
    api.run(api.store.put, key, data, "video/mp4")
    api.run(api.store.put, thumbnail, b"\xff\xd8\xff thumbnail", "image/jpeg")
    if preview:
        api.run(api.store.put, preview_key, PREVIEW, "video/mp4")
    ref = c.FileRef(bucket=api.store.bucket, key=key, name=name, size=len(data), etag=name)
    keys = c.DerivedKeys(thumbnail=thumbnail, preview=preview_key if preview else None)
    api.commit(
        sid,
        c.FileProcessedData(file=ref, kind="video", media_type="video/mp4", sha256=name, keys=keys),
        source="shoebox/media_process",
    )
    return key


def _job(api: Api, sid: str, keys: list[str]) -> str:
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth())
    assert r.status_code == 202, r.text
    job = str(r.json()["job_id"])
    # the fan-out, as it records a deployed video service's items
    api.commit(
        sid,
        *[
            (c.VideoEnhanceRequestedData if k.endswith((".mp4", ".MOV")) else c.PhotoEnhanceRequestedData)(
                job_id=job, key=k, index=i
            )
            for i, k in enumerate(keys)
        ],
    )
    return job


def _enhanced(api: Api, sid: str, job: str, key: str, name: str) -> str:
    """The video service's result: the clip and its thumbnail stored, ``video.enhanced`` recorded."""
    stem = name.rsplit(".", 1)[0]
    enhanced, thumb = (
        f"enhanced/{sid}/{job}/{name}/{stem}.mp4",
        f"enhanced/{sid}/{job}/{name}/{stem}-thumb.jpg",
    )
    api.run(api.store.put, enhanced, RENDERED, "video/mp4")
    api.run(api.store.put, thumb, b"\xff\xd8\xff enhanced thumbnail", "image/jpeg")
    changes = ["eq brightness=+0.06 contrast=1.10", "hqdn3d luma=3"]
    api.commit(
        sid,
        c.VideoEnhancedData(job_id=job, key=key, enhanced_key=enhanced, thumbnail_key=thumb, changes=changes),
        source="shoebox/video",
    )
    return enhanced


def _media(api: Api, sid: str, job: str, name: str, sub: str = "alice") -> Any:
    url = f"/v1/sessions/{sid}/enhancements/{job}/items/{urllib.parse.quote(name)}/media"
    return api.client.get(url, headers=api.auth(sub))


def test_a_video_items_clips_are_presigned_gets_that_expire(api: Api) -> None:
    sid = api.new_session()
    key = _video(api, sid, "ride 1.mp4")
    job = _job(api, sid, [key])

    # rendering: the original's preview plays already; the enhanced clip not yet
    early = _media(api, sid, job, "ride 1.mp4")
    assert early.status_code == 200, early.text
    assert early.json()["after"] is None
    assert api.store.get_presigned(early.json()["before"]["url"]) == (PREVIEW, "video/mp4")

    _enhanced(api, sid, job, key, "ride 1.mp4")
    r = _media(api, sid, job, "ride 1.mp4")
    assert r.status_code == 200, r.text
    body = r.json()
    ttl = api.settings.api.media_url_ttl_s
    assert body["expires_in_s"] == ttl and ttl <= 3600  # short-lived: the URL is a bearer of the clip
    assert body["after"]["media_type"] == body["before"]["media_type"] == "video/mp4"
    assert api.store.get_presigned(body["after"]["url"]) == (RENDERED, "video/mp4")
    assert api.store.get_presigned(body["before"]["url"]) == (PREVIEW, "video/mp4")
    for link in (body["after"], body["before"]):  # each URL expires when the answer says
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link["url"]).query))
        assert query["expires"] == str(ttl)
    # the item's answer names the file route; the file is the clip, as an MP4 download
    item = api.client.get(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth()).json()["items"][0]
    assert item["kind"] == "video" and item["status"] == "enhanced"
    got = api.client.get(item["enhanced_url"], headers=api.auth())
    assert got.status_code == 200 and got.content == RENDERED
    assert got.headers["content-type"] == "video/mp4"
    assert got.headers["content-disposition"] == 'attachment; filename="ride 1-enhanced.mp4"'


def test_without_a_preview_the_before_is_the_original(api: Api) -> None:
    sid = api.new_session()
    key = _video(api, sid, "raw.mp4", preview=False)
    job = _job(api, sid, [key])
    before = _media(api, sid, job, "raw.mp4").json()["before"]
    assert api.store.get_presigned(before["url"]) == (CLIP.read_bytes(), "video/mp4")


def test_only_the_owner_gets_the_urls_and_a_missing_item_is_404(api: Api) -> None:
    sid = api.new_session()
    key = _video(api, sid, "mine.mp4")
    photo = api.processed(sid, PHOTO.name, PHOTO.read_bytes())
    job = _job(api, sid, [key, photo])
    _enhanced(api, sid, job, key, "mine.mp4")
    assert _media(api, sid, job, "mine.mp4").status_code == 200
    assert _media(api, sid, job, "mine.mp4", sub="bob").status_code == 404  # as if it did not exist
    no_token = api.client.get(f"/v1/sessions/{sid}/enhancements/{job}/items/mine.mp4/media")
    assert no_token.status_code == 401
    assert _media(api, sid, job, "other.mp4").status_code == 404  # not an item of the job
    assert _media(api, sid, "enh-none", "mine.mp4").status_code == 404  # no such job
    assert _media(api, sid, job, PHOTO.name).status_code == 404  # a photo has no clip to play
    file = f"/v1/sessions/{sid}/enhancements/{job}/items/mine.mp4/file"
    assert api.client.get(file, headers=api.auth("bob")).status_code == 404
    assert api.client.get(file.replace("mine", "other"), headers=api.auth()).status_code == 404


def test_a_photos_file_is_still_a_jpeg_and_a_gone_file_is_404(api: Api) -> None:
    sid = api.new_session()
    photo = api.processed(sid, PHOTO.name, PHOTO.read_bytes())
    job = _job(api, sid, [photo])
    api.run(api.store.put, f"enhanced/{sid}/p.jpg", b"\xff\xd8\xff enhanced", "image/jpeg")
    api.commit(sid, c.PhotoEnhancedData(job_id=job, key=photo, enhanced_key=f"enhanced/{sid}/p.jpg"))
    url = f"/v1/sessions/{sid}/enhancements/{job}/items/{PHOTO.name}/file"
    got = api.client.get(url, headers=api.auth())
    assert got.status_code == 200 and got.content == b"\xff\xd8\xff enhanced"
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"] == f'attachment; filename="{PHOTO.stem}-enhanced.jpg"'
    api.run(api.store.delete, f"enhanced/{sid}/p.jpg")
    assert api.client.get(url, headers=api.auth()).status_code == 404
