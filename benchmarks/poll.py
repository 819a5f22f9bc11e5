"""A 1,000-file session polled through the API: status and triage results, fresh, with If-None-Match, and as
delta polls (``?after_version=``: only what changed since the last answer).

The read model answers a poll with one paged Query on the views table (no fold of the log). On the
embedded stack, timed:

- through the API (httpx -> the stack's API, bearer token checked): the status poll, the same with
  ``If-None-Match`` (a 304), the triage results poll; the delta polls of both after two uploads landed
  (each sample: two files pending more, then the poll with the last answer's version and ETag), and the
  same status delta poll in a session whose 1,000 files are all pending (the pending count reads them);
- two floors: ``GET /health`` through the same client (HTTP alone: no token, no AWS call) and one bare
  ``GetItem`` on the same emulator, called in this process (an AWS call alone: no HTTP);
- what a poll would cost without read models, in this process and without HTTP: reading the session's
  whole log (``read_all``), and reading it and folding it (the projections applied in memory, as
  ``rebuild_views`` does, into the same view items the Query returns: ``projections.fold``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import anyio
import httpx

from benchmarks._common import summary_ms
from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig, running_stack
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.projections import counters_key, fold
from shared.runtime.read_models import CountersView


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--poll-files", type=int, default=1000, help="files in the polled session (default 1000)"
    )
    group.add_argument("--poll-samples", type=int, default=30, help="polls timed per kind (default 30)")


def _received(sid: str, i: int) -> Any:
    name = f"NEW_{i:04d}.jpg"
    data = c.UploadReceivedData(key=f"uploads/{sid}/{name}", name=name, size=3_000_000, etag=f"n{i}")
    return make_event(data, source="shoebox/bench", session_id=sid)


def _processed(sid: str, i: int) -> Any:
    name = f"IMG_{i:04d}.jpg"
    ref = c.FileRef(bucket="b", key=f"uploads/{sid}/{name}", name=name, size=3_000_000, etag=f"e{i}")
    data = c.FileProcessedData(
        file=ref,
        kind="photo",
        media_type="image/jpeg",
        sha256=f"{i:064x}",
        metadata=c.MediaMetadata(width=4032, height=3024, make="Apple", model="iPhone 13 Pro"),
        keys=c.DerivedKeys(thumbnail=f"thumbnails/{sid}/{name}.jpg"),
        photo=c.PhotoSignals(
            sharpness=0.1,
            exposure_mean=0.5,
            shadows_clipped=0.0,
            highlights_clipped=0.0,
            colour_cast=1.0,
            phash=f"{i:016x}",
        ),
    )
    return make_event(data, source="shoebox/bench", session_id=sid)


async def _measure(files: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        config = StackConfig(
            emulator_port=free_port(),
            api_port=free_port(),
            prefix="poll",
            state_dir=state,
            services=(),
            run_relay=False,
        )
        async with running_stack(config) as stack:
            owner = "bench"
            auth = {"Authorization": f"Bearer {stack.issuer.issue(owner, 3600)}"}
            async with httpx.AsyncClient(base_url=stack.api_url, headers=auth, timeout=60) as http:
                sid = (await http.post("/v1/sessions", json={"context": "poll bench"})).json()["session_id"]
                job = (await http.post(f"/v1/sessions/{sid}/triage", json={"expected": files})).json()[
                    "job_id"
                ]
                filled = time.perf_counter()
                batch = 15  # 2 items per event + 3 view updates each: under 100 transaction items
                for start in range(0, files, batch):
                    await stack.log.commit(
                        [_processed(sid, i) for i in range(start, min(files, start + batch))]
                    )
                fill_s = time.perf_counter() - filled

                async def timed(
                    path: str, headers: dict[str, str] | None = None
                ) -> tuple[list[float], httpx.Response]:
                    out = []
                    r = None
                    for _ in range(samples):
                        t = time.perf_counter()
                        r = await http.get(path, headers=headers)
                        out.append(time.perf_counter() - t)
                    assert r is not None
                    return out, r

                status_t, status_r = await timed(f"/v1/sessions/{sid}")
                assert len(status_r.json()["files"]) == files
                cached_t, cached_r = await timed(
                    f"/v1/sessions/{sid}", {"If-None-Match": status_r.headers["etag"]}
                )
                assert cached_r.status_code == 304
                triage_t, _ = await timed(f"/v1/sessions/{sid}/triage/{job}")

                added = 0

                async def delta(path: str, session: str) -> tuple[list[float], httpx.Response]:
                    """Each sample: two uploads land, then the poll asks for what changed since the last."""
                    nonlocal added
                    out = []
                    last = await http.get(path)
                    for _ in range(samples):
                        await stack.log.commit([_received(session, added), _received(session, added + 1)])
                        added += 2
                        body, tag = last.json(), last.headers["etag"]
                        t = time.perf_counter()
                        last = await http.get(
                            path, params={"after_version": body["version"]}, headers={"If-None-Match": tag}
                        )
                        out.append(time.perf_counter() - t)
                        assert last.status_code == 200 and len(last.json()["files"]) == 2, last.text
                    return out, last

                delta_t, delta_r = await delta(f"/v1/sessions/{sid}", sid)
                triage_delta_t, _ = await delta(f"/v1/sessions/{sid}/triage/{job}", sid)
                waiting = (await http.post("/v1/sessions", json={"context": "all pending"})).json()[
                    "session_id"
                ]
                for start in range(0, files, 30):
                    await stack.log.commit(
                        [_received(waiting, 10_000 + i) for i in range(start, min(files, start + 30))]
                    )
                pending_delta_t, pending_r = await delta(f"/v1/sessions/{waiting}", waiting)
                assert pending_r.json()["counters"]["pending"] >= files
                http_floor, health_r = await timed("/health")
                assert health_r.status_code == 200
                floor = []
                for _ in range(samples):
                    t = time.perf_counter()
                    await stack.log.get_view(counters_key(sid), type=CountersView)
                    floor.append(time.perf_counter() - t)
                read_t, folded_t = [], []
                for _ in range(max(3, samples // 10)):
                    t = time.perf_counter()
                    events = await stack.log.read_all(sid)
                    read_t.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    events = await stack.log.read_all(sid)
                    views = fold(events)
                    folded_t.append(time.perf_counter() - t)
                assert len(events) >= files
                assert sum(1 for k in views if k.sk.startswith("FILE#")) == files
            return {
                "files": files,
                "fill_s": round(fill_s, 1),
                "status_body_bytes": len(status_r.content),
                "delta_body_bytes": len(delta_r.content),
                "ms": {
                    "status poll, HTTP (1 Query, all pages)": summary_ms(status_t),
                    "status poll, HTTP, If-None-Match -> 304": summary_ms(cached_t),
                    "triage results poll, HTTP": summary_ms(triage_t),
                    "status delta poll, HTTP (after_version, 2 files changed)": summary_ms(delta_t),
                    "triage results delta poll, HTTP (after_version, 2 files changed)": summary_ms(
                        triage_delta_t
                    ),
                    "status delta poll, HTTP, every file pending (2 changed)": summary_ms(pending_delta_t),
                    "floor: HTTP GET /health (no token, no AWS call)": summary_ms(http_floor),
                    "floor: one GetItem, in process (no HTTP)": summary_ms(floor),
                    "without read models: read the whole log, in process (no HTTP)": summary_ms(read_t),
                    "without read models: read + fold the whole log, in process (no HTTP)": summary_ms(
                        folded_t
                    ),
                },
            }


def run(args: argparse.Namespace) -> dict[str, Any]:
    files = 200 if args.quick else args.poll_files
    samples = 10 if args.quick else args.poll_samples
    result: dict[str, Any] = anyio.run(_measure, files, samples)
    return result
