"""The offline selection evaluated on real photos (issue 13's first "Done when").

From 10 photos of ``../shared/testdata`` (never copied: read in place, the test files go to a temporary
folder), each made an 800 px working copy and then a **burst** of 3-5 near-duplicates: small crops (up to
4 %), shifts (a few pixels) and exposure steps (x0.85-1.15), one frame left sharp and the others blurred
(gaussian σ 1.2-2.4). Two bursts make a **scene**, five scenes in all: each scene on its own day-time and
place (capture time and GPS written into the frames' EXIF with Pillow), its bursts ten minutes apart, the
frames of a burst one second apart. Every frame goes through media_process's real pipeline in process
(``tests.support.inproc``: the upload, the S3 announcement, decode, EXIF, signals, the thumbnail), then the
real offline triage and the offline selection, through their handlers, on one in-memory log and store.

Asserted for counts 3 (fewer than the scenes), 5 (one per scene), 10 (one per burst) and 14: never two
frames of one burst; from each burst it picks from, its sharp frame; every scene covered when the count
allows. The test prints the scores per frame and the picks.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import ExifTags, Image, TiffImagePlugin

from services.selection import handlers, selection_handler
from services.selection.handlers import Deps as TriageDeps
from services.selection.offline_selection import OfflineSelection, quality
from services.selection.providers import OfflineTriage
from services.selection.selection_handler import Deps, load
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Payload
from shared.runtime.config import Settings
from shared.runtime.log import InMemoryEventLog
from shared.runtime.storage import InMemoryObjectStore
from tests.support.events import session_created
from tests.support.inproc import Consumers
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.anyio

PHOTOS = TESTDATA / "photos"
SOURCES = [
    *(PHOTOS / "gps" / f"DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27", "29", "38", "40")),
    PHOTOS / "cameras" / "canon_hdr_NO.jpg",
    PHOTOS / "orientation" / "landscape_1.jpg",
]
LONG_SIDE = 800
#: (day, hour, lat, lon) per scene: hours and kilometres apart
SCENES = [
    (1, 9, 35.0116, 135.7681),  # Kyoto
    (1, 14, 34.9671, 135.7727),  # Fushimi, 5 km south, 5 h later
    (2, 10, 34.6851, 135.8048),  # Nara
    (2, 16, 34.6937, 135.5023),  # Osaka
    (3, 11, 34.3853, 132.4553),  # Hiroshima
]
BURST_SIZES = [3, 4, 5, 3, 4, 5, 3, 4, 5, 4]


class Frame:
    def __init__(self, name: str, scene: int, burst: int, sharp: bool) -> None:
        self.name, self.scene, self.burst, self.sharp = name, scene, burst, sharp


def _working_copy(path: Path) -> pyvips.Image:
    image = pyvips.Image.new_from_file(str(path)).autorot()
    image = image.extract_band(0, n=3) if image.bands > 3 else image
    return image.resize(LONG_SIDE / max(image.width, image.height), kernel="lanczos3").copy_memory()


def _variant(image: pyvips.Image, j: int, sharp: bool) -> pyvips.Image:
    """Frame ``j`` of a burst: a small crop and shift, an exposure step, blurred unless ``sharp``."""
    crop = 0.01 * (j % 5)  # 0-4 %
    dx, dy = 3 * ((j * 7) % 5), 2 * ((j * 3) % 4)
    w, h = int(image.width * (1 - crop)) - dx, int(image.height * (1 - crop)) - dy
    frame = image.crop(dx, dy, w, h).resize(image.width / w, vscale=image.height / h, kernel="lanczos3")
    frame = frame.linear(1.0 + 0.05 * ((j % 4) - 1.5), 0).cast("uchar")
    if not sharp:
        frame = frame.gaussblur(1.2 + 0.4 * (j % 4)).cast("uchar")
    return frame


def _rational(x: float) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(round(x * 10000), 10000)


def _dms(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    value = abs(value)
    deg, rest = int(value), (abs(value) - int(value)) * 60
    minutes = int(rest)
    return (_rational(deg), _rational(minutes), _rational((rest - minutes) * 60))


def _jpeg(frame: pyvips.Image, at: dt.datetime, lat: float, lon: float) -> bytes:
    """The frame as a JPEG with its capture time and place in EXIF (Pillow writes the EXIF block)."""
    pixels = np.ndarray(buffer=frame.write_to_memory(), dtype=np.uint8, shape=(frame.height, frame.width, 3))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Shoebox", "Evaluation burst"  # make, model
    exif.get_ifd(ExifTags.IFD.Exif)[0x9003] = at.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(lon)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


async def _session(tmp_path: Path) -> tuple[InMemoryEventLog, InMemoryObjectStore, str, list[Frame]]:
    log, store, sid = InMemoryEventLog(), InMemoryObjectStore(), str(uuid.uuid4())
    consumers = Consumers(log, store, Settings(), tmp_root=str(tmp_path))
    frames: list[Frame] = []
    total = sum(BURST_SIZES)
    await log.commit(
        [
            session_created(sid),
            make_event(
                c.TriageInitializedData(job_id="t1", expected=total), source="shoebox/api", session_id=sid
            ),
        ]
    )
    for b, (source, size) in enumerate(zip(SOURCES, BURST_SIZES, strict=True)):
        scene = b // 2
        day, hour, lat, lon = SCENES[scene]
        start = dt.datetime(2024, 5, day, hour, 10 * (b % 2))
        image = _working_copy(source)
        sharp_at = (b * 2) % size  # the sharp frame moves around the burst
        for j in range(size):
            name = f"s{scene + 1}-b{b + 1:02}-{j + 1}.jpg"
            # a few metres apart, a second apart
            data = _jpeg(
                _variant(image, j, j == sharp_at),
                start + dt.timedelta(seconds=j),
                lat + 0.00005 * j,
                lon - 0.00004 * j,
            )
            key = f"uploads/{sid}/{name}"
            await store.put(key, data, "image/jpeg")
            events = await consumers.object_created(key)
            assert [type(e) for e in events] == [c.FileProcessed], name
            frames.append(Frame(name, scene, b, j == sharp_at))
    return log, store, sid, frames


async def _commit(log: InMemoryEventLog, sid: str, outputs: Sequence[object]) -> None:
    [payload] = outputs
    assert isinstance(payload, Payload)
    await log.commit([make_event(payload, source="shoebox/selection", session_id=sid)])


@pytest.mark.slow
async def test_offline_selection_on_real_bursts_over_five_scenes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, store, sid, frames = await _session(tmp_path)
    by_name = {f.name: f for f in frames}
    triage = c.TriageRequestedData(
        job_id="t1", attempt=1, expected=len(frames), processed=len(frames), rejected=0, duplicate=0
    )
    request = make_event(triage, source="shoebox/api", session_id=sid)
    assert isinstance(request, c.TriageRequested)
    await _commit(
        log, sid, await handlers.handle_triage_requested(request, TriageDeps(store, log, OfflineTriage()))
    )

    manifest = await load(store, log, sid)
    assert len(manifest.items) == len(frames) and all(i.metadata.gps for i in manifest.items)
    lines = ["", f"offline selection evaluation: {len(SOURCES)} bursts, {len(frames)} frames, 5 scenes", ""]
    lines.append(f"{'frame':18} {'sharp':>5} {'sharpness':>9} {'quality':>7}  triage")
    for item in manifest.items:
        f = by_name[item.name]
        assert item.photo is not None and item.triage is not None
        lines.append(
            f"{item.name:18} {'yes' if f.sharp else '':>5} {item.photo.sharpness:9.4f} "
            f"{quality(item).score:7.3f}  {item.triage.verdict}"
        )

    deps = Deps(store=store, log=log, provider=OfflineSelection())
    for attempt, count in enumerate((3, 5, 10, 14), start=1):
        data = c.SelectionRequestedData(job_id="sel", context="Japan", count=count, attempt=attempt)
        event = make_event(data, source="shoebox/api", session_id=sid)
        assert isinstance(event, c.SelectionRequested)
        [out] = await handlers.handle_selection_requested(event, deps)
        assert isinstance(out, c.SelectionCompletedData), out
        result = selection_handler.decode(await store.get(out.results_key))
        picks = [by_name[p.name] for p in result.selected]
        bursts = [p.burst for p in picks]
        scenes_covered = {p.scene for p in picks}
        assert len(picks) == min(count, len(SOURCES))  # one per burst at most
        assert len(bursts) == len(set(bursts)), f"two frames of one burst at count {count}"
        assert all(p.sharp for p in picks), [p.name for p in picks if not p.sharp]
        assert len(scenes_covered) == min(count, len(SCENES)), scenes_covered
        assert len(result.scene_groups) == len(SCENES)
        # every blurred frame collapsed into its burst's sharp one (or discarded by triage before);
        # the sharp frames not picked lost to another burst's
        for e in result.excluded:
            f = by_name[e.name]
            if f.sharp:
                assert e.category in ("redundant_scene", "quality"), e
            elif e.category == "near_duplicate":
                assert e.duplicate_of is not None
                best = by_name[e.duplicate_of.rsplit("/", 1)[-1]]
                assert (best.burst, best.sharp) == (f.burst, True), e
            else:
                assert e.category == "discarded_in_triage", e
        lines.append(
            f"count {count:2}: {len(picks)} picks over {len(scenes_covered)} scenes, "
            f"{len(set(bursts))} bursts, sharp frames {sum(p.sharp for p in picks)}/{len(picks)}: "
            + ", ".join(p.name for p in picks)
        )
    with capsys.disabled():
        print("\n".join(lines))
